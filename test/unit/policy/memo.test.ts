import { describe, expect, it } from 'vitest';
import type { Identity } from '../../../src/domain/identity.js';
import { evaluate, evaluateUnremembered, ruleMemoStats, RULE_MEMO_MAX, type EvaluateOptions } from '../../../src/policy/evaluate.js';
import type { CompiledPolicy } from '../../../src/policy/index.js';
import { parseIdentityInput } from '../../../src/store/identities.js';
import { estateMappings, identityAt } from '../../../scripts/bench/lib/estate.js';
import { person, policyOf } from './helpers.js';

/**
 * The rules' memo (evaluate remembers which rules match by the values of the attributes the
 * filters read): what is remembered must never leak one person's dates, sponsor, anchors or
 * values into another's evaluation, and the answers must be those of trying every rule.
 */

const NOW = new Date('2026-03-10T12:00:00.000Z');
const DAY = 86_400_000;

const MAPPINGS = `
version: 1
employeeTypes: [Employee]
classes:
  3: { maxValidityDays: 180, sponsorRequired: true }
accessGroups:
  - { id: perimeter, system: dc1, ref: AG-PERIM, protectionClass: 1 }
  - { id: techrooms, system: dc1, ref: AG-TECH, protectionClass: 3 }
roles:
  tech: { grant: [perimeter, techrooms], validity: { maxDays: 60 } }
rules:
  - id: staff
    when: 'site eq "S01" and employeeType eq "Employee"'
    grant: [perimeter]
  - id: contractors
    when: 'site eq "S01" and employeeType eq "Contractor" and contractEnd pr and sponsor pr'
    roles: [tech]
    validity: { until: contractEnd }
lifecycle: { preHireDays: 7 }
`;

/** Same inputs, same answer, byte for byte, with and without the memo. */
function same(identity: Identity, policy: CompiledPolicy, opts: EvaluateOptions): string {
  const remembered = JSON.stringify(evaluate(identity, policy, opts));
  expect(remembered).toBe(JSON.stringify(evaluateUnremembered(identity, policy, opts)));
  return remembered;
}

describe("the rules' memo", () => {
  it('gives people who share every filter attribute their own validity, sponsor check and reasons', () => {
    const policy = policyOf(MAPPINGS);
    const base = { site: 'S01', employeeType: 'Contractor', sponsor: 'E100', contractEnd: '2026-04-30' };
    const a = person(base);
    const b = person({ ...base, sponsor: 'E200', contractEnd: '2026-03-20' });
    const noSponsor = person({ ...base, sponsor: '   ' });
    const preHire = person({ ...base, hireDate: '2026-03-20' });
    const leaving = person({ ...base, leaveDate: '2026-03-15' });
    const anchored = person(base);

    const ea = evaluate(a, policy, { now: NOW });
    const eb = evaluate(b, policy, { now: NOW });
    expect(ea.entitlements.map((e) => e.validUntil)).toEqual(['2026-04-30T23:59:59.999Z', '2026-04-30T23:59:59.999Z']);
    expect(eb.entitlements.map((e) => e.validUntil)).toEqual(['2026-03-20T23:59:59.999Z', '2026-03-20T23:59:59.999Z']);
    // the values a presence test read are the person's own, not those of whoever came first
    expect(ea.entitlements[0].reasons[0].matched).toEqual({ site: 'S01', employeeType: 'Contractor', contractEnd: '2026-04-30', sponsor: 'E100' });
    expect(eb.entitlements[0].reasons[0].matched).toEqual({ site: 'S01', employeeType: 'Contractor', contractEnd: '2026-03-20', sponsor: 'E200' });
    expect(eb.nextCheckAt).toBe('2026-03-20T23:59:59.999Z');

    // '   ' is present for the filter but is no sponsor: class 3 is refused to this one only
    const en = evaluate(noSponsor, policy, { now: NOW });
    expect(en.entitlements.map((e) => e.accessGroup.id)).toEqual(['perimeter']);
    expect(en.denied.map((d) => d.accessGroupId)).toEqual(['techrooms']);

    const ep = evaluate(preHire, policy, { now: NOW });
    expect(ep.entitlements.map((e) => e.validFrom)).toEqual(['2026-03-13T00:00:00.000Z', '2026-03-13T00:00:00.000Z']);
    expect(ep.entitlements[0].reasons[0].notes).toContain('from 2026-03-13T00:00:00.000Z: hireDate 2026-03-20 less 7 pre-hire days');
    expect(ea.entitlements[0].validFrom).toBeNull();

    const el = evaluate(leaving, policy, { now: NOW });
    expect(el.entitlements.map((e) => e.validUntil)).toEqual(['2026-03-15T23:59:59.999Z', '2026-03-15T23:59:59.999Z']);

    const since = new Date(NOW.getTime() - 50 * DAY).toISOString();
    const ex = evaluate(anchored, policy, { now: NOW, anchors: { techrooms: since } });
    expect(ex.entitlements.find((e) => e.accessGroup.id === 'techrooms')!.validUntil).toBe(new Date(NOW.getTime() + 10 * DAY).toISOString());
    expect(ex.entitlements.find((e) => e.accessGroup.id === 'perimeter')!.validUntil).toBe('2026-04-30T23:59:59.999Z');

    for (const p of [a, b, noSponsor, preHire, leaving]) same(p, policy, { now: NOW });
    same(anchored, policy, { now: NOW, anchors: { techrooms: since } });
    // everyone above has the same rules' answer: one entry
    expect(ruleMemoStats(policy).entries).toBe(1);
  });

  it('shares nothing between employees with the same attributes but different anchors or clocks', () => {
    const policy = policyOf(MAPPINGS.replace('grant: [perimeter]\n', 'roles: [tech]\n'));
    const a = person({ site: 'S01' });
    const b = person({ site: 'S01' });
    const early = new Date(NOW.getTime() - 100 * DAY).toISOString();
    const late = new Date(NOW.getTime() - 10 * DAY).toISOString();
    const ea = same(a, policy, { now: NOW, anchors: { perimeter: late, techrooms: late } });
    const eb = same(b, policy, { now: NOW, anchors: { perimeter: early, techrooms: late } });
    expect(JSON.parse(eb).entitlements.map((e: { accessGroup: { id: string } }) => e.accessGroup.id)).toEqual(['techrooms']);
    expect(JSON.parse(eb).denied[0].reason).toMatch(/^expired /);
    expect(JSON.parse(ea).entitlements).toHaveLength(2);
    // leave and hire dates bound only their owner's windows, whoever was evaluated before
    const leaving = JSON.parse(same(person({ site: 'S01', leaveDate: '2026-03-20' }), policy, { now: NOW, anchors: { perimeter: late, techrooms: late } }));
    expect(leaving.entitlements.map((e: { validUntil: string }) => e.validUntil)).toEqual(['2026-03-20T23:59:59.999Z', '2026-03-20T23:59:59.999Z']);
    const joining = JSON.parse(same(person({ site: 'S01', hireDate: '2026-03-25' }), policy, { now: NOW }));
    expect(joining.entitlements.map((e: { validFrom: string }) => e.validFrom)).toEqual(['2026-03-18T00:00:00.000Z', '2026-03-18T00:00:00.000Z']);
    const plainToo = JSON.parse(same(person({ site: 'S01' }), policy, { now: NOW }));
    expect(plainToo.entitlements.map((e: { validFrom: string }) => e.validFrom)).toEqual([null, null]);
    // the same anchor read again later: windows that have ended by then are not served from before
    const later = new Date(NOW.getTime() + 55 * DAY);
    const again = JSON.parse(same(a, policy, { now: later, anchors: { perimeter: late, techrooms: late } }));
    expect(again.entitlements).toEqual([]);
    expect(again.denied).toHaveLength(2);
  });

  it('answers anew when a filter attribute changes', () => {
    const policy = policyOf(MAPPINGS);
    const anna = person({ site: 'S01' });
    expect(evaluate(anna, policy, { now: NOW }).entitlements.map((e) => e.accessGroup.id)).toEqual(['perimeter']);
    expect(evaluate({ ...anna, site: 'S02' }, policy, { now: NOW }).entitlements).toEqual([]);
    expect(evaluate({ ...anna, employeeType: 'Visitor' }, policy, { now: NOW }).entitlements).toEqual([]);
    expect(evaluate({ ...anna, site: 's01' }, policy, { now: NOW }).entitlements[0].reasons[0].matched).toEqual({ site: 's01', employeeType: 'Employee' });
    const contractor = { ...anna, employeeType: 'Contractor', sponsor: 'E1' };
    // contractEnd pr: absent, empty and present are three answers
    expect(evaluate(contractor, policy, { now: NOW }).entitlements).toEqual([]);
    expect(evaluate({ ...contractor, contractEnd: '' }, policy, { now: NOW }).entitlements).toEqual([]);
    expect(evaluate({ ...contractor, contractEnd: '2026-05-01' }, policy, { now: NOW }).entitlements).toHaveLength(2);
    // an attribute that stands in for nothing: an open attribute named like a core field is ignored, as the view ignores it
    expect(evaluate({ ...anna, site: undefined, attributes: { Site: 'S01' } }, policy, { now: NOW }).entitlements).toEqual([]);
    for (const p of [anna, { ...anna, site: 's01' }, { ...contractor, contractEnd: '' }, { ...anna, attributes: { SITE: 'S02' } }])
      same(p, policy, { now: NOW });
  });

  it('reads open attributes case-insensitively, as the filter view does', () => {
    const policy = policyOf(`
version: 1
accessGroups:
  - { id: lobby, system: dc1, ref: AG-LOBBY, protectionClass: 1 }
rules:
  - id: cc
    when: 'costCenter sw "CC-1" and not (badge pr)'
    grant: [lobby]
    validity: { until: passEnd }
`);
    const people = [
      person({ attributes: { costCenter: 'CC-10' } }),
      person({ attributes: { CostCenter: 'CC-11' } }),
      person({ attributes: { costcenter: 'CC-2', COSTCENTER: 'CC-12' } }),
      person({ attributes: { costCenter: 'CC-13', Badge: 'x' } }),
      person({ attributes: { costCenter: 'CC-14', badge: '' } }),
      person({ attributes: { costCenter: 'CC-15', PassEnd: '2026-04-01' } }),
      person({ attributes: { costCenter: 'CC-16', passEnd: 'soon' } }),
      person({ attributes: { costCenter: ['CC-17', 'X'] } }),
      person({ attributes: { costCenter: 'CC-18', nested: { a: [1, -0, null, true] } } }),
      // a key that is no core field on the identity itself: evaluated on its view
      { ...person({ attributes: { costCenter: 'CC-19' } }), costcenter: 'CC-2' } as unknown as Identity,
    ];
    const results = people.map((p) => JSON.parse(same(p, policy, { now: NOW })));
    expect(results.map((r) => r.entitlements.length)).toEqual([1, 1, 0, 0, 1, 1, 0, 1, 1, 0]);
    expect(results[1].entitlements[0].reasons[0].matched).toEqual({ CostCenter: 'CC-11', badge: null });
    expect(results[5].entitlements[0].validUntil).toBe('2026-04-01T23:59:59.999Z');
  });

  it('evaluates rules per person whose attribute is unique to each, and keeps remembering the others', () => {
    const policy = policyOf(`
version: 1
employeeTypes: [Employee]
accessGroups:
  - { id: lobby, system: dc1, ref: AG-LOBBY, protectionClass: 1 }
  - { id: offices, system: dc1, ref: AG-OFFICE, protectionClass: 2 }
rules:
  - id: staff
    when: 'employeeType eq "Employee" and site pr'
    grant: [lobby]
  - id: by-mail
    when: 'email ew "7@example.com"'
    grant: [lobby, offices]
`);
    const n = RULE_MEMO_MAX + 2000;
    for (let i = 0; i < n; i++) {
      const p = person({ email: `user${i}@example.com`, site: i % 3 === 0 ? 'S01' : 'S02' });
      const ev = evaluate(p, policy, { now: NOW });
      const want = i % 10 === 7 ? ['lobby', 'offices'] : ['lobby'];
      expect(ev.entitlements.map((e) => e.accessGroup.id)).toEqual(want);
      expect(ev.entitlements[0].reasons.map((r) => r.rule)).toEqual(i % 10 === 7 ? ['staff', 'by-mail'] : ['staff']);
      if (i % 97 === 0) same(p, policy, { now: NOW });
    }
    const stats = ruleMemoStats(policy);
    expect(stats.perPerson).toEqual(['by-mail']);
    expect(stats.off).toBe(false);
    expect(stats.names).toEqual(['employeeType', 'site']);
    expect(stats.entries).toBeLessThanOrEqual(4);
  });

  it('answers as trying every rule does over the bench estate, with and without anchors', () => {
    const policy = policyOf(estateMappings(20).yaml);
    const base = NOW.getTime();
    const people: Identity[] = [];
    for (let i = 0; i < 3000; i++) {
      people.push({
        ...parseIdentityInput(identityAt(i, { sites: 20, seed: 11, baseMs: base })),
        id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
        deletedAt: null,
        createdAt: NOW.toISOString(),
        updatedAt: NOW.toISOString(),
        version: 1,
      });
    }
    const since = new Date(base - 30 * DAY).toISOString();
    const old = new Date(base - 200 * DAY).toISOString();
    for (const now of [new Date(base + 3_600_000), new Date(base + 100 * DAY)]) {
      for (const p of people) {
        const first = evaluateUnremembered(p, policy, { now });
        const anchors = Object.fromEntries(first.entitlements.map((e, k) => [e.accessGroup.id, k % 3 === 0 ? old : since]));
        same(p, policy, { now });
        same(p, policy, { now, anchors });
      }
    }
    const stats = ruleMemoStats(policy);
    expect(stats.perPerson).toEqual([]);
    expect(stats.entries).toBeGreaterThan(0);
    expect(stats.entries).toBeLessThan(people.length / 2);
  });

  it('hands out shared parts frozen, and copies of the identity data they show', () => {
    const policy = policyOf(MAPPINGS.replace('\'site eq "S01" and employeeType eq "Employee"\'', '\'site eq "S01" and groups eq "A"\''));
    const groups = ['A', 'B'];
    const a = person({ site: 'S01', groups });
    const ev = evaluate(a, policy, { now: NOW });
    const again = evaluate(person({ site: 'S01', groups: ['A', 'B'] }), policy, { now: NOW });
    expect(ev.entitlements[0].reasons[0].matched).toEqual({ site: 'S01', groups: ['A'] });
    expect(Object.isFrozen(again.entitlements[0].reasons[0].matched)).toBe(true);
    expect(Object.isFrozen(again.entitlements[0].reasons)).toBe(true);
    expect(Object.isFrozen(groups)).toBe(false);
  });
});
