import { describe, expect, it } from 'vitest';
import type { SponsorState } from '../../../src/domain/sponsor.js';
import { evaluate, evaluateUnremembered } from '../../../src/policy/evaluate.js';
import { explainText, type EvaluateOptions, type Evaluation } from '../../../src/policy/index.js';
import { person, policyOf } from './helpers.js';

const policy = policyOf(`
version: 1
employeeTypes: [Employee]
classes:
  3: { sponsorRequired: true }
accessGroups:
  - { id: lobby, system: dc1, ref: LOBBY, protectionClass: 1 }
  - { id: techroom, system: dc1, ref: TECH, protectionClass: 3 }
rules:
  - id: hvac
    when: 'groups eq "HVAC" and sponsor pr'
    grant: [lobby, techroom]
`);

const NOW = new Date('2026-03-10T12:00:00.000Z');
const ids = (ev: Evaluation): string[] => ev.entitlements.map((e) => e.accessGroup.id);
const sponsorOf = (over: Partial<Extract<SponsorState, { found: true }>> = {}): SponsorState => ({
  found: true,
  id: '11111111-1111-4111-8111-111111111111',
  userName: 'jdoe',
  active: true,
  deletedAt: null,
  leaveDate: null,
  ...over,
});

describe('sponsorship checked against the sponsor', () => {
  const contractor = person({ employeeType: 'Contractor', sponsor: 'JDoe', groups: ['HVAC'] });
  const both = (opts: EvaluateOptions): Evaluation => {
    const remembered = evaluate(contractor, policy, opts);
    expect(evaluateUnremembered(contractor, policy, opts)).toEqual(remembered);
    return remembered;
  };

  it('keeps sponsored access while the sponsor is an active identity who has not left', () => {
    const ev = both({ now: NOW, sponsor: sponsorOf() });
    expect(ids(ev)).toEqual(['lobby', 'techroom']);
    expect(ev.nextCheckAt).toBeNull();
  });

  it('refuses sponsored classes when the sponsor has left, and keeps the rest', () => {
    const ev = both({ now: NOW, sponsor: sponsorOf({ leaveDate: '2026-03-09' }) });
    expect(ids(ev)).toEqual(['lobby']);
    expect(ev.denied).toEqual([
      { accessGroupId: 'techroom', rule: 'hvac', reason: 'class 3 requires an active sponsor for non-employees; sponsor jdoe has left (leaveDate 2026-03-09)' },
    ]);
  });

  it('refuses them when the sponsor is inactive or deleted', () => {
    expect(both({ now: NOW, sponsor: sponsorOf({ active: false }) }).denied[0].reason).toBe(
      'class 3 requires an active sponsor for non-employees; sponsor jdoe is inactive',
    );
    expect(both({ now: NOW, sponsor: sponsorOf({ active: false, deletedAt: '2026-03-01T09:00:00.000Z' }) }).denied[0].reason).toBe(
      'class 3 requires an active sponsor for non-employees; sponsor jdoe was deleted at source (2026-03-01T09:00:00.000Z)',
    );
  });

  it('refuses them when the sponsor names no known identity, or the person themself', () => {
    const unknown = both({ now: NOW, sponsor: { found: false } });
    expect(ids(unknown)).toEqual(['lobby']);
    expect(unknown.denied[0].reason).toBe('class 3 requires an active sponsor for non-employees; sponsor "JDoe" is not a known identity');
    expect(both({ now: NOW, sponsor: sponsorOf({ id: contractor.id }) }).denied[0].reason).toMatch(/sponsor "JDoe" is this identity itself$/);
  });

  it('ends sponsored access when a sponsor with a future leaveDate leaves, and checks back then', () => {
    const ev = both({ now: NOW, sponsor: sponsorOf({ leaveDate: '2026-03-31' }) });
    const tech = ev.entitlements.find((e) => e.accessGroup.id === 'techroom')!;
    expect(tech.validUntil).toBe('2026-03-31T23:59:59.999Z');
    expect(tech.reasons[0].notes).toEqual(['sponsor jdoe leaves 2026-03-31 (leaveDate)']);
    // a group outside the sponsored class does not depend on the sponsor
    expect(ev.entitlements.find((e) => e.accessGroup.id === 'lobby')!.validUntil).toBeNull();
    expect(ev.nextCheckAt).toBe('2026-03-31T23:59:59.999Z');
    expect(explainText(ev)).toContain('next check at 2026-03-31T23:59:59.999Z');
    // the person's own earlier leave still comes first
    const own = evaluate({ ...contractor, leaveDate: '2026-03-20' }, policy, { now: NOW, sponsor: sponsorOf({ leaveDate: '2026-03-31' }) });
    expect(own.entitlements.find((e) => e.accessGroup.id === 'techroom')!.validUntil).toBe('2026-03-20T23:59:59.999Z');
    // once that instant has passed, the sponsor has left
    const after = evaluate(contractor, policy, { now: new Date('2026-04-01T00:00:00.000Z'), sponsor: sponsorOf({ leaveDate: '2026-03-31' }) });
    expect(after.denied[0].reason).toMatch(/sponsor jdoe has left \(leaveDate 2026-03-31\)$/);
  });

  it("never lends one person's sponsor to another through the memo", () => {
    const a = person({ employeeType: 'Contractor', sponsor: 'jdoe', groups: ['HVAC'] });
    const b = person({ employeeType: 'Contractor', sponsor: 'mroe', groups: ['HVAC'] });
    const c = person({ employeeType: 'Contractor', sponsor: 'kfox', groups: ['HVAC'] });
    // a first: its answer for techroom is the one shared by people with nothing of their own
    expect(evaluate(a, policy, { now: NOW, sponsor: sponsorOf() }).entitlements[1].validUntil).toBeNull();
    expect(evaluate(b, policy, { now: NOW, sponsor: sponsorOf({ userName: 'mroe', leaveDate: '2026-03-15' }) }).entitlements[1].validUntil).toBe(
      '2026-03-15T23:59:59.999Z',
    );
    expect(ids(evaluate(c, policy, { now: NOW, sponsor: sponsorOf({ userName: 'kfox', active: false }) }))).toEqual(['lobby']);
    const again = evaluate(a, policy, { now: NOW, sponsor: sponsorOf() });
    expect(ids(again)).toEqual(['lobby', 'techroom']);
    expect(again.entitlements[1].validUntil).toBeNull();
    expect(again.entitlements[1].reasons[0].notes).toBeUndefined();
  });

  it('does not ask employees for a sponsor, whatever the sponsor attribute says', () => {
    const employee = person({ employeeType: 'Employee', sponsor: 'jdoe', groups: ['HVAC'] });
    expect(ids(evaluate(employee, policy, { now: NOW, sponsor: sponsorOf({ active: false }) }))).toEqual(['lobby', 'techroom']);
  });

  it('still refuses a non-employee without any sponsor', () => {
    const noSponsor = person({ employeeType: 'Contractor', groups: ['HVAC'], attributes: {} });
    const p = policyOf(`
version: 1
classes: { 3: { sponsorRequired: true } }
accessGroups: [{ id: techroom, system: dc1, ref: TECH, protectionClass: 3 }]
rules: [{ id: hvac, when: 'groups eq "HVAC"', grant: [techroom] }]
`);
    expect(evaluate(noSponsor, p, { now: NOW }).denied[0].reason).toBe(
      'class 3 requires a sponsor for non-employees; this identity (employeeType "Contractor") has none',
    );
  });
});
