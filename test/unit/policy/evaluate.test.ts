import { describe, expect, it } from 'vitest';
import type { Entitlement } from '../../../src/domain/access.js';
import { evaluate, explainText, type Evaluation } from '../../../src/policy/index.js';
import { person, policyOf } from './helpers.js';

const policy = policyOf(`
version: 1
employeeTypes: [Employee]
classes:
  3: { maxValidityDays: 180, sponsorRequired: true }
  4: { maxValidityDays: 90, sponsorRequired: true }
accessGroups:
  - { id: perimeter, system: dc1, ref: AG-PERIM, protectionClass: 1 }
  - { id: offices, system: dc1, ref: AG-OFFICE, protectionClass: 2 }
  - { id: techrooms, system: dc1, ref: AG-TECH, protectionClass: 3 }
  - { id: whitespace, system: dc1, ref: AG-WS, protectionClass: 4 }
roles:
  office-worker: { grant: [perimeter, offices] }
  dc-technician: { include: [office-worker], grant: [techrooms, whitespace], validity: { maxDays: 60 } }
rules:
  - id: staff
    when: 'employeeType eq "Employee"'
    roles: [office-worker]
  - id: dc-ops
    when: 'groups eq "DC Operations" and employeeType ne "Contractor"'
    roles: [dc-technician]
  - id: site-b-technicians
    when: 'roles[type eq "site-b" and value eq "DC Technician"]'
    grant: [techrooms]
    exemptFromUnusedExpiry: true
  - id: contractors
    when: 'employeeType eq "Contractor" and groups eq "HVAC"'
    grant: [perimeter, techrooms]
    validity: { until: contractEnd, maxDays: 365 }
lifecycle: { preHireDays: 7 }
`);

const NOW = new Date('2026-03-10T12:00:00.000Z');
const DAY = 86_400_000;
const after = (days: number, from: Date = NOW): string => new Date(from.getTime() + days * DAY).toISOString();

function byGroup(ev: Evaluation): Record<string, Entitlement> {
  return Object.fromEntries(ev.entitlements.map((e) => [e.accessGroup.id, e]));
}
const ids = (ev: Evaluation): string[] => ev.entitlements.map((e) => e.accessGroup.id);

describe('evaluate', () => {
  const technician = person({ userName: 'anna', groups: ['DC Operations', 'All Staff'] });

  it('gives a joiner exactly the groups of matching rules and bundles, with reasons', () => {
    const ev = evaluate(technician, policy, { now: NOW });
    expect(ev.leaver).toBe(false);
    expect(ids(ev)).toEqual(['perimeter', 'offices', 'techrooms', 'whitespace']);
    expect(ev.denied).toEqual([]);
    const g = byGroup(ev);
    expect(g.perimeter.identityId).toBe(technician.id);
    expect(g.perimeter.accessGroup).toEqual({ id: 'perimeter', system: 'dc1', ref: 'AG-PERIM', name: 'perimeter', protectionClass: 1 });
    // Nested bundle: dc-ops -> dc-technician -> office-worker.
    expect(g.perimeter.reasons).toEqual([
      { rule: 'staff', role: 'office-worker', matched: { employeeType: 'Employee' } },
      {
        rule: 'dc-ops',
        role: 'office-worker',
        roleChain: ['dc-technician', 'office-worker'],
        matched: { groups: ['DC Operations'], employeeType: 'Employee' },
        notes: [`role dc-technician max 60 days from ${NOW.toISOString()}`],
      },
    ]);
    // The unbounded staff path is more generous than dc-ops' 60 days, so it wins.
    expect(g.perimeter.validUntil).toBeNull();
    expect(g.whitespace.validUntil).toBe(after(60));
    expect(g.whitespace.reasons.map((r) => r.rule)).toEqual(['dc-ops']);
    expect(g.whitespace.exemptFromUnusedExpiry).toBe(false);
  });

  it('takes away what a mover no longer qualifies for', () => {
    const before = ids(evaluate(technician, policy, { now: NOW }));
    const moved = ids(evaluate({ ...technician, groups: ['Finance', 'All Staff'] }, policy, { now: NOW }));
    expect(before).toContain('whitespace');
    expect(moved).toEqual(['perimeter', 'offices']);
  });

  it('gives leavers nothing: inactive, deleted, or past their leave date', () => {
    for (const leaver of [
      { ...technician, active: false },
      { ...technician, deletedAt: '2026-03-01T00:00:00.000Z' },
      { ...technician, leaveDate: '2026-03-09' },
    ]) {
      const ev = evaluate(leaver, policy, { now: NOW });
      expect(ev).toMatchObject({ leaver: true, entitlements: [], denied: [], nextCheckAt: null });
    }
    expect(evaluate({ ...technician, leaveDate: '2026-03-09' }, policy, { now: NOW }).leaverReason).toMatch(/2026-03-09/);
  });

  it('ends access at a future leave date, at the end of that day', () => {
    const ev = evaluate({ ...technician, leaveDate: '2026-03-20' }, policy, { now: NOW });
    const g = byGroup(ev);
    expect(g.perimeter.validUntil).toBe('2026-03-20T23:59:59.999Z');
    expect(g.perimeter.reasons[0].notes).toEqual(['leaveDate 2026-03-20']);
    expect(ev.nextCheckAt).toBe('2026-03-20T23:59:59.999Z');
  });

  describe('contractors', () => {
    const contractor = person({ employeeType: 'Contractor', groups: ['HVAC'], sponsor: 'boss', contractEnd: '2026-04-30' });

    it('are capped by contractEnd when it comes before the class maximum', () => {
      const g = byGroup(evaluate(contractor, policy, { now: NOW }));
      expect(g.techrooms.validUntil).toBe('2026-04-30T23:59:59.999Z');
      expect(g.techrooms.reasons[0].notes).toEqual(['until contractEnd 2026-04-30 (rule contractors)']);
      expect(g.techrooms.reasons[0].matched).toEqual({ employeeType: 'Contractor', groups: ['HVAC'] });
    });

    it('are capped by the class maximum when the contract runs longer', () => {
      const g = byGroup(evaluate({ ...contractor, contractEnd: '2028-12-31' }, policy, { now: NOW }));
      expect(g.techrooms.validUntil).toBe(after(180));
      expect(g.techrooms.reasons[0].notes).toEqual([`class 3 max 180 days from ${NOW.toISOString()}`]);
      // Class 1 has no maximum: the rule's own 365 days win there.
      expect(g.perimeter.validUntil).toBe(after(365));
    });

    it('without a sponsor are denied sponsor-required classes but keep the rest', () => {
      const ev = evaluate({ ...contractor, sponsor: undefined }, policy, { now: NOW });
      expect(ids(ev)).toEqual(['perimeter']);
      expect(ev.denied).toEqual([
        {
          accessGroupId: 'techrooms',
          rule: 'contractors',
          reason: 'class 3 requires a sponsor for non-employees; this identity (employeeType "Contractor") has none',
        },
      ]);
    });

    it('whose contract has ended are denied with "expired"', () => {
      const ev = evaluate({ ...contractor, contractEnd: '2026-03-01' }, policy, { now: NOW });
      expect(ev.entitlements).toEqual([]);
      expect(ev.denied.map((d) => d.accessGroupId)).toEqual(['perimeter', 'techrooms']);
      expect(ev.denied[0].reason).toMatch(/^expired 2026-03-01T23:59:59\.999Z: until contractEnd 2026-03-01/);
    });

    it('with a contractEnd that is not a date are denied rather than given open-ended access', () => {
      const ev = evaluate({ ...contractor, contractEnd: 'next spring' }, policy, { now: NOW });
      expect(ev.entitlements).toEqual([]);
      expect(ev.denied[0].reason).toMatch(/contractEnd .* is not a date: "next spring"/);
    });
  });

  it('lets employees hold sponsor-required classes without a sponsor', () => {
    expect(ids(evaluate(technician, policy, { now: NOW }))).toContain('techrooms');
  });

  it('opens a pre-hire window preHireDays before the hire date and checks back then', () => {
    const joiner = { ...technician, hireDate: '2026-03-25' };
    const ev = evaluate(joiner, policy, { now: NOW });
    const g = byGroup(ev);
    expect(g.perimeter.validFrom).toBe('2026-03-18T00:00:00.000Z');
    // Limits count from the day access starts, not from today.
    expect(g.whitespace.validUntil).toBe(after(60, new Date('2026-03-18T00:00:00.000Z')));
    expect(ev.nextCheckAt).toBe('2026-03-18T00:00:00.000Z');
    // Inside the window, access starts now.
    expect(byGroup(evaluate({ ...technician, hireDate: '2026-03-14' }, policy, { now: NOW })).perimeter.validFrom).toBeNull();
  });

  it('matches source roles with roles[type eq ...] and records the role that matched', () => {
    const siteB = person({ employeeType: 'Contractor', sponsor: 'boss', roles: [{ value: 'Other' }, { value: 'DC Technician', type: 'site-b' }] });
    const g = byGroup(evaluate(siteB, policy, { now: NOW }));
    expect(Object.keys(g)).toEqual(['techrooms']);
    expect(g.techrooms.reasons).toEqual([
      expect.objectContaining({ rule: 'site-b-technicians', sourceRole: 'DC Technician', matched: { roles: ['DC Technician'] } }),
    ]);
    expect(g.techrooms.exemptFromUnusedExpiry).toBe(true);
    const siteA = { ...siteB, roles: [{ value: 'DC Technician', type: 'site-a' }] };
    expect(ids(evaluate(siteA, policy, { now: NOW }))).toEqual([]);
  });

  it('matches roles eq "..." by role value', () => {
    const p = policyOf(`
version: 1
accessGroups: [{ id: ws, system: dc1, ref: WS, protectionClass: 4 }]
rules: [{ id: by-role, when: 'roles eq "dc technician"', grant: [ws] }]
`);
    const ev = evaluate(person({ roles: [{ value: 'DC Technician', display: 'DC Tech' }] }), p, { now: NOW });
    expect(ev.entitlements[0].reasons[0]).toMatchObject({ rule: 'by-role', sourceRole: 'DC Technician' });
    expect(evaluate(person({ roles: [{ value: 'Cleaner', display: 'DC Technician' }] }), p, { now: NOW }).entitlements).toEqual([]);
  });

  it('sets nextCheckAt to the earliest future instant the result changes', () => {
    const ev = evaluate({ ...technician, leaveDate: '2026-12-31' }, policy, { now: NOW });
    // whitespace ends after 60 days, before the leave date.
    expect(ev.nextCheckAt).toBe(after(60));
    expect(evaluate(person({ employeeType: 'Visitor' }), policy, { now: NOW }).nextCheckAt).toBeNull();
  });

  it('keeps windows from sliding when anchors say when access began', () => {
    const began = NOW.toISOString();
    const later = new Date(NOW.getTime() + 30 * DAY);
    const anchored = byGroup(evaluate(technician, policy, { now: later, anchors: { whitespace: began } }));
    expect(anchored.whitespace.validUntil).toBe(after(60));
    const sliding = byGroup(evaluate(technician, policy, { now: later }));
    expect(sliding.whitespace.validUntil).toBe(after(90));
    const past = evaluate(technician, policy, { now: new Date(NOW.getTime() + 61 * DAY), anchors: { whitespace: began } });
    expect(ids(past)).not.toContain('whitespace');
    expect(past.denied).toEqual([{ accessGroupId: 'whitespace', rule: 'dc-ops', reason: expect.stringMatching(/^expired .*role dc-technician max 60 days/) }]);
  });

  it('reads until from open attributes and lets the latest of several bounded windows win', () => {
    const p = policyOf(`
version: 1
accessGroups: [{ id: lobby, system: dc1, ref: LOBBY, protectionClass: 1 }]
rules:
  - { id: visit, when: 'visitEnd pr', grant: [lobby], validity: { until: visitEnd } }
  - { id: escorted, when: 'groups eq "Escorted"', grant: [lobby], validity: { maxDays: 5 } }
`);
    const visitor = person({ employeeType: 'Visitor', groups: ['Escorted'], attributes: { visitEnd: '2026-03-12' } });
    const e = evaluate(visitor, p, { now: NOW }).entitlements[0];
    expect(e.validUntil).toBe(after(5));
    expect(e.reasons.map((r) => r.notes)).toEqual([['until visitEnd 2026-03-12 (rule visit)'], [`rule escorted max 5 days from ${NOW.toISOString()}`]]);
    const longer = evaluate({ ...visitor, attributes: { visitEnd: '2026-03-31' } }, p, { now: NOW }).entitlements[0];
    expect(longer.validUntil).toBe('2026-03-31T23:59:59.999Z');
  });

  it('refuses an anchor that is not a date rather than silently sliding the window', () => {
    expect(() => evaluate(technician, policy, { now: NOW, anchors: { whitespace: 'yesterday' } })).toThrow(/anchor for access group whitespace/);
  });

  it('explains an evaluation in one line per entitlement and reason', () => {
    const lines = explainText(evaluate({ ...technician, leaveDate: '2027-03-31' }, policy, { now: NOW }));
    expect(lines).toContain(
      `+ whitespace (class 4) until ${after(60)}  ← rule dc-ops via role dc-technician (groups="DC Operations", employeeType="Employee")`,
    );
    expect(lines).toContain('    ← rule dc-ops via role dc-technician → office-worker (groups="DC Operations", employeeType="Employee")');
    expect(lines.at(-1)).toBe(`next check at ${after(60)}`);
    expect(explainText(evaluate({ ...technician, active: false }, policy, { now: NOW }))).toEqual(['leaver (inactive): no access']);
  });
});
