import { describe, expect, it } from 'vitest';
import type { AccessException, RequestGrant } from '../../../src/domain/governance.js';
import { addCalendar } from '../../../src/domain/governance.js';
import { evaluate, explainText } from '../../../src/policy/index.js';
import { person, policyOf } from './helpers.js';

const policy = policyOf(`
version: 1
classes:
  4: { maxValidityDays: 90, sponsorRequired: true }
accessGroups:
  - { id: perimeter, system: dc1, ref: AG-PERIM, protectionClass: 1 }
  - { id: whitespace, system: dc1, ref: AG-WS, protectionClass: 4, owner: hall.owner }
rules:
  - { id: staff, when: 'active eq true', grant: [perimeter] }
`);
const now = new Date('2026-06-01T08:00:00Z');

const exception = (over: Partial<AccessException> = {}): AccessException => ({
  id: 'x1',
  identityId: 'i',
  accessGroupId: 'perimeter',
  until: '2026-06-10T00:00:00.000Z',
  reason: 'manual decision',
  source: 'manual',
  sourceRef: null,
  createdBy: 'api:alice',
  createdAt: '2026-05-31T00:00:00.000Z',
  removedAt: null,
  removedBy: null,
  removedReason: null,
  ...over,
});
const grant = (over: Partial<RequestGrant> = {}): RequestGrant => ({
  id: 'r1',
  groups: ['whitespace'],
  validFrom: '2026-05-31T00:00:00.000Z',
  validUntil: '2026-06-20T00:00:00.000Z',
  decidedBy: 'token:hall.owner',
  justification: 'rack move',
  kind: 'accessGroup',
  target: 'whitespace',
  ...over,
});

describe('governance in evaluation', () => {
  it('denies a granted group while an exception is in force, and looks again when it ends', () => {
    const e = evaluate(person(), policy, { now, exceptions: [exception()] });
    expect(e.entitlements).toEqual([]);
    expect(e.denied).toEqual([
      {
        accessGroupId: 'perimeter',
        rule: 'staff',
        reason: 'denied by exception x1 until 2026-06-10T00:00:00.000Z (api:alice): manual decision',
        exception: expect.objectContaining({ id: 'x1' }),
      },
    ]);
    expect(e.nextCheckAt).toBe('2026-06-10T00:00:00.000Z');
    expect(explainText(e)).toContain(
      '! perimeter denied by exception x1 until 2026-06-10T00:00:00.000Z (api:alice): manual decision (granted by rule staff otherwise)',
    );
  });

  it('ignores removed and ended exceptions, and those for groups the rules do not grant', () => {
    for (const x of [
      exception({ removedAt: '2026-05-31T12:00:00Z' }),
      exception({ until: '2026-06-01T08:00:00.000Z' }),
      exception({ accessGroupId: 'whitespace' }),
    ]) {
      const e = evaluate(person(), policy, { now, exceptions: [x] });
      expect(e.entitlements.map((y) => y.accessGroup.id)).toEqual(['perimeter']);
      expect(e.denied).toEqual([]);
      expect(e.nextCheckAt).toBeNull();
    }
  });

  it("grants an approved request's groups until its end with the request as the reason; not before it begins; not to a leaver", () => {
    const e = evaluate(person(), policy, { now, grants: [grant()] });
    const ws = e.entitlements.find((x) => x.accessGroup.id === 'whitespace')!;
    expect(ws).toMatchObject({ validFrom: null, validUntil: '2026-06-20T00:00:00.000Z' });
    expect(ws.reasons).toEqual([
      {
        rule: 'request:r1',
        matched: {},
        notes: ['access request r1 for whitespace, approved by token:hall.owner: rack move', 'until 2026-06-20T00:00:00.000Z (access request r1)'],
      },
    ]);
    expect(e.nextCheckAt).toBe('2026-06-20T00:00:00.000Z');
    expect(explainText(e).join('\n')).toContain('← access request r1');

    const later = evaluate(person(), policy, { now, grants: [grant({ validFrom: '2026-06-05T00:00:00.000Z' })] });
    expect(later.entitlements.map((x) => x.accessGroup.id)).toEqual(['perimeter']);
    expect(later.nextCheckAt).toBe('2026-06-05T00:00:00.000Z');

    expect(evaluate(person({ active: false }), policy, { now, grants: [grant()] }).entitlements).toEqual([]);
    // ends at the person's leave date when that comes first
    expect(
      evaluate(person({ leaveDate: '2026-06-12' }), policy, { now, grants: [grant()] }).entitlements.find((x) => x.accessGroup.id === 'whitespace')!.validUntil,
    ).toBe('2026-06-12T23:59:59.999Z');
  });

  it("keeps the class's sponsor requirement for a request's grant; an exception wins over it", () => {
    const contractor = person({ employeeType: 'Contractor' });
    const e = evaluate(contractor, policy, { now, grants: [grant()], sponsor: { found: false } });
    expect(e.entitlements.map((x) => x.accessGroup.id)).toEqual(['perimeter']);
    expect(e.denied[0]).toMatchObject({ accessGroupId: 'whitespace', rule: 'request:r1', reason: expect.stringMatching(/requires an active sponsor/) });
    const both = evaluate(person(), policy, { now, grants: [grant()], exceptions: [exception({ accessGroupId: 'whitespace' })] });
    expect(both.entitlements.map((x) => x.accessGroup.id)).toEqual(['perimeter']);
    expect(both.denied[0]).toMatchObject({ accessGroupId: 'whitespace', rule: 'request:r1', exception: { id: 'x1' } });
  });

  it('adds calendar durations for review schedules (months by the calendar)', () => {
    const t = Date.parse('2026-01-31T08:00:00Z');
    expect(new Date(addCalendar(t, 'P1M')).toISOString()).toBe('2026-03-03T08:00:00.000Z');
    expect(new Date(addCalendar(Date.parse('2026-06-01T08:00:00Z'), 'P3M')).toISOString()).toBe('2026-09-01T08:00:00.000Z');
    expect(new Date(addCalendar(t, 'P14D')).toISOString()).toBe('2026-02-14T08:00:00.000Z');
    expect(new Date(addCalendar(t, 'PT1H30M')).toISOString()).toBe('2026-01-31T09:30:00.000Z');
    expect(addCalendar(t, '3 months')).toBeNaN();
    expect(addCalendar(t, 'P')).toBeNaN();
  });
});

describe('reviews in the mappings', () => {
  it('declares campaigns with defaults, and refuses a bad schedule or an empty scope naming the field', () => {
    const p = policyOf(`
version: 1
accessGroups:
  - { id: whitespace, system: dc1, ref: AG-WS, protectionClass: 4 }
reviews:
  - { id: q, scope: { protectionClass: 4 }, every: P3M }
`);
    expect(p.mappings.reviews).toEqual([
      { id: 'q', scope: { protectionClass: 4 }, every: 'P3M', reviewers: ['owner', 'manager'], deadline: 'P14D', undecided: 'keep' },
    ]);
    expect(() => policyOf('version: 1\nreviews:\n  - { id: q, scope: { protectionClass: 4 }, every: 3 months }\n')).toThrow(/reviews\[0\]\.every/);
    expect(() => policyOf('version: 1\nreviews:\n  - { id: q, scope: {} }\n')).toThrow(/reviews\[0\]\.scope.*protectionClass or accessGroups/);
  });
});
