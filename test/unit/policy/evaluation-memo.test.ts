import { describe, expect, it } from 'vitest';
import { evaluate } from '../../../src/policy/evaluate.js';
import { evaluateRemembered, evaluationMemoStats } from '../../../src/policy/evaluation-memo.js';
import type { EvaluateOptions } from '../../../src/policy/evaluate.js';
import type { Identity } from '../../../src/domain/identity.js';
import type { CompiledPolicy } from '../../../src/policy/index.js';
import { person, policyOf } from './helpers.js';

const MAPPINGS = `version: 1
accessGroups:
  - { id: lobby, system: dc1, ref: LOBBY, protectionClass: 1 }
  - { id: techrooms, system: dc1, ref: TECH, protectionClass: 3 }
  - { id: whitespace, system: dc1, ref: WS, protectionClass: 4 }
classes:
  4: { sponsorRequired: true }
rules:
  - { id: staff, when: 'active eq true', grant: [lobby] }
  - { id: tech, when: 'department eq "DC Ops"', grant: [techrooms], validity: { maxDays: 30 } }
  - { id: visitors, when: 'employeeType eq "Contractor"', grant: [whitespace] }
`;

const T0 = Date.parse('2026-06-01T08:00:00.000Z');
const at = (ms: number) => new Date(ms);
const DAY = 86_400_000;

/** What evaluate says, for comparing: the memo must never answer differently. */
function fresh(i: Identity, policy: CompiledPolicy, opts: EvaluateOptions) {
  return evaluate(i, policy, opts);
}

function counted<T>(fn: () => T): { value: T; hits: number; misses: number } {
  const h = evaluationMemoStats.hits;
  const m = evaluationMemoStats.misses;
  const value = fn();
  return { value, hits: evaluationMemoStats.hits - h, misses: evaluationMemoStats.misses - m };
}

describe('the evaluation memo (an unchanged person is not evaluated again)', () => {
  const anchors = { lobby: '2026-05-20T08:00:00.000Z', techrooms: '2026-05-20T08:00:00.000Z' };

  it('reuses an evaluation while the identity, its anchors and the time window are the same', () => {
    const policy = policyOf(MAPPINGS);
    const p = person({ department: 'DC Ops' });
    const first = counted(() => evaluateRemembered(p, policy, { now: at(T0), anchors }));
    const again = counted(() => evaluateRemembered(p, policy, { now: at(T0 + 3_600_000), anchors: { ...anchors } }));
    expect(first.misses).toBe(1);
    expect(again.hits).toBe(1);
    expect(again.value).toBe(first.value);
    expect(again.value).toEqual(fresh(p, policy, { now: at(T0 + 3_600_000), anchors }));
    expect(again.value.entitlements.map((e) => e.accessGroup.id).sort()).toEqual(['lobby', 'techrooms']);
  });

  it('evaluates again when the stored identity changed (its version), and answers for the new data', () => {
    const policy = policyOf(MAPPINGS);
    const p = person({ department: 'DC Ops' });
    evaluateRemembered(p, policy, { now: at(T0), anchors });
    const moved = { ...p, department: 'Finance', version: p.version + 1, updatedAt: '2026-06-01T09:00:00.000Z' };
    const r = counted(() => evaluateRemembered(moved, policy, { now: at(T0 + 1000), anchors }));
    expect(r.misses).toBe(1);
    expect(r.value.entitlements.map((e) => e.accessGroup.id)).toEqual(['lobby']);
    // deleted at source (the store bumps the version with it): a leaver at once
    const gone = { ...moved, deletedAt: '2026-06-01T10:00:00.000Z', active: false, version: moved.version + 1, updatedAt: '2026-06-01T10:00:00.000Z' };
    expect(evaluateRemembered(gone, policy, { now: at(T0 + 2000), anchors }).leaver).toBe(true);
  });

  it('evaluates again when the anchors or the sponsor changed', () => {
    const policy = policyOf(MAPPINGS);
    const p = person({ department: 'DC Ops' });
    evaluateRemembered(p, policy, { now: at(T0), anchors });
    const later = { ...anchors, techrooms: '2026-05-25T08:00:00.000Z' };
    const r = counted(() => evaluateRemembered(p, policy, { now: at(T0), anchors: later }));
    expect(r.misses).toBe(1);
    expect(r.value.entitlements.find((e) => e.accessGroup.id === 'techrooms')!.validUntil).toBe(
      fresh(p, policy, { now: at(T0), anchors: later }).entitlements.find((e) => e.accessGroup.id === 'techrooms')!.validUntil,
    );

    const c = person({ employeeType: 'Contractor', sponsor: 'boss' });
    const sponsorAnchors = { lobby: anchors.lobby, whitespace: anchors.lobby };
    const sponsor = { found: true as const, id: 'b', userName: 'boss', active: true, deletedAt: null, leaveDate: null };
    expect(evaluateRemembered(c, policy, { now: at(T0), anchors: sponsorAnchors, sponsor }).entitlements.map((e) => e.accessGroup.id)).toContain('whitespace');
    const left = counted(() => evaluateRemembered(c, policy, { now: at(T0), anchors: sponsorAnchors, sponsor: { ...sponsor, active: false } }));
    expect(left.misses).toBe(1);
    expect(left.value.entitlements.map((e) => e.accessGroup.id)).not.toContain('whitespace');
  });

  it('holds an evaluation only until its nextCheckAt, and never for an earlier clock', () => {
    const policy = policyOf(MAPPINGS);
    const p = person({ department: 'DC Ops' });
    const first = evaluateRemembered(p, policy, { now: at(T0), anchors });
    // techrooms' 30 days from 20 May end on 19 June
    expect(first.nextCheckAt).toBe('2026-06-19T08:00:00.000Z');
    const after = counted(() => evaluateRemembered(p, policy, { now: at(Date.parse(first.nextCheckAt!) + 1), anchors }));
    expect(after.misses).toBe(1);
    expect(after.value.entitlements.map((e) => e.accessGroup.id)).toEqual(['lobby']);
    const before = counted(() => evaluateRemembered(p, policy, { now: at(T0 - DAY), anchors }));
    expect(before.misses).toBe(1);
    expect(before.value).toEqual(fresh(p, policy, { now: at(T0 - DAY), anchors }));
  });

  it('never remembers a window that counts from now (no anchor yet)', () => {
    const policy = policyOf(MAPPINGS);
    const p = person({ department: 'DC Ops' });
    const a = evaluateRemembered(p, policy, { now: at(T0), anchors: { lobby: anchors.lobby } });
    const b = counted(() => evaluateRemembered(p, policy, { now: at(T0 + DAY), anchors: { lobby: anchors.lobby } }));
    expect(b.misses).toBe(1);
    const until = (e: typeof a) => e.entitlements.find((x) => x.accessGroup.id === 'techrooms')!.validUntil;
    expect(Date.parse(until(b.value)!) - Date.parse(until(a)!)).toBe(DAY);
  });

  it('starts over with new mappings, and leaves evaluations with exceptions or grants unremembered', () => {
    const policy = policyOf(MAPPINGS);
    const p = person({ department: 'DC Ops' });
    evaluateRemembered(p, policy, { now: at(T0), anchors });
    const next = policyOf(MAPPINGS.replace('maxDays: 30', 'maxDays: 10'));
    const r = counted(() => evaluateRemembered(p, next, { now: at(T0), anchors }));
    expect(r.misses).toBe(1);
    expect(r.value.entitlements.map((e) => e.accessGroup.id)).toEqual(['lobby']);

    const exception = {
      id: 'x1',
      identityId: p.id,
      accessGroupId: 'techrooms',
      kind: 'deny' as const,
      validFrom: '2026-05-01T00:00:00.000Z',
      validUntil: '2026-07-01T00:00:00.000Z',
      reason: 'suspended pending an investigation',
      createdBy: 'officer',
      createdAt: '2026-05-01T00:00:00.000Z',
    };
    const withException = () => evaluateRemembered(p, policy, { now: at(T0), anchors, exceptions: [exception] as never });
    const one = counted(withException);
    const two = counted(withException);
    expect(one.hits + one.misses + two.hits + two.misses).toBe(0);
    expect(two.value).not.toBe(one.value);
  });
});
