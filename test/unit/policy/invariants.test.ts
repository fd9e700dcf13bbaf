import { describe, expect, it } from 'vitest';
import { evaluate, explainText, heldViolations, holderCounts, overHolders, parseMappings } from '../../../src/policy/index.js';
import { person, policyOf } from './helpers.js';

const now = new Date('2026-11-20T09:00:00Z');

const BASE = `
version: 1
employeeTypes: [Employee]
accessGroups:
  - { id: cash, system: s, ref: CASH, protectionClass: 3 }
  - { id: audit-log, system: s, ref: AUDIT, protectionClass: 3 }
  - { id: vault, system: s, ref: VAULT, protectionClass: 4 }
  - { id: lobby, system: s, ref: LOBBY, protectionClass: 1 }
roles:
  teller: { grant: [cash, lobby] }
  auditor: { grant: [audit-log, lobby] }
rules:
  - { id: tellers, when: 'groups eq "Tellers"', roles: [teller] }
  - { id: auditors, when: 'groups eq "Audit"', roles: [auditor] }
  - { id: cash-direct, when: 'groups eq "Cash"', grant: [cash] }
  - { id: audit-direct, when: 'groups eq "AuditLog"', grant: [audit-log] }
  - { id: vault, when: 'groups eq "Vault"', grant: [vault] }
`;

describe('invariants: segregation of access groups', () => {
  const policy = policyOf(`${BASE}
invariants:
  - id: cash-apart
    separate: { accessGroups: [cash, audit-log] }
`);

  it('refuses both groups to someone the rules would give both, naming the invariant', () => {
    const e = evaluate(person({ groups: ['Cash', 'AuditLog'] }), policy, { now });
    expect(e.entitlements.map((x) => x.accessGroup.id)).toEqual([]);
    expect(e.denied).toEqual([
      expect.objectContaining({
        accessGroupId: 'cash',
        rule: 'cash-direct',
        invariant: 'cash-apart',
        reason: 'refused by invariant cash-apart: would be held together with audit-log',
      }),
      expect.objectContaining({ accessGroupId: 'audit-log', rule: 'audit-direct', invariant: 'cash-apart' }),
    ]);
    expect(explainText(e)).toContain('! cash refused by invariant cash-apart: would be held together with audit-log (granted by rule cash-direct otherwise)');
  });

  it('keeps the group a person holds and refuses the new one', () => {
    const e = evaluate(person({ groups: ['Cash', 'AuditLog'] }), policy, { now, held: new Set(['cash']) });
    expect(e.entitlements.map((x) => x.accessGroup.id)).toEqual(['cash']);
    expect(e.denied.map((d) => [d.accessGroupId, d.invariant])).toEqual([['audit-log', 'cash-apart']]);
    expect(e.violations).toBeUndefined();
  });

  it('keeps both when both are held (anchors count as held) and reports the violation', () => {
    const e = evaluate(person({ groups: ['Cash', 'AuditLog'] }), policy, {
      now,
      anchors: { cash: '2026-01-01T00:00:00Z', 'audit-log': '2026-01-01T00:00:00Z' },
    });
    expect(e.entitlements.map((x) => x.accessGroup.id)).toEqual(['cash', 'audit-log']);
    expect(e.violations).toEqual([
      expect.objectContaining({
        invariant: 'cash-apart',
        accessGroupIds: ['cash', 'audit-log'],
        message: 'no one holds two of cash, audit-log: holds cash and audit-log together',
      }),
    ]);
    expect(explainText(e).join('\n')).toMatch(/VIOLATION of invariant cash-apart/);
  });

  it('leaves people with one of the groups alone', () => {
    const e = evaluate(person({ groups: ['Cash'] }), policy, { now });
    expect(e.entitlements.map((x) => x.accessGroup.id)).toEqual(['cash']);
    expect(e.denied).toEqual([]);
  });

  it('reports held memberships that break it, whatever the rules say', () => {
    const p = person({ groups: [] });
    expect(heldViolations(p, new Set(['cash', 'audit-log', 'lobby']), [], policy.invariants, policy.employeeTypes, now)).toEqual([
      {
        invariant: 'cash-apart',
        identityId: p.id,
        userName: p.userName,
        accessGroupIds: ['cash', 'audit-log'],
        message: 'no one holds two of cash, audit-log: holds cash and audit-log together',
      },
    ]);
    expect(heldViolations(p, new Set(['cash', 'lobby']), [], policy.invariants, policy.employeeTypes, now)).toEqual([]);
  });
});

describe('invariants: segregation of role bundles', () => {
  const policy = policyOf(`${BASE}
invariants:
  - id: teller-not-auditor
    separate: { roles: [teller, auditor] }
`);

  it('refuses what only the conflicting bundles give, and keeps what another rule gives', () => {
    const e = evaluate(person({ groups: ['Tellers', 'Audit', 'Cash'] }), policy, { now });
    // cash comes through the teller bundle and directly: the direct rule still justifies it
    expect(e.entitlements.map((x) => [x.accessGroup.id, x.reasons.map((r) => r.rule)])).toEqual([['cash', ['cash-direct']]]);
    expect(e.denied.map((d) => [d.accessGroupId, d.invariant])).toEqual([
      ['audit-log', 'teller-not-auditor'],
      ['lobby', 'teller-not-auditor'],
    ]);
    expect(e.denied[0].reason).toBe('refused by invariant teller-not-auditor: would carry the role bundles teller and auditor together');
  });

  it('one bundle alone is fine', () => {
    const e = evaluate(person({ groups: ['Tellers'] }), policy, { now });
    expect(e.entitlements.map((x) => x.accessGroup.id)).toEqual(['cash', 'lobby']);
  });

  it('reports held access that comes through both bundles', () => {
    const p = person({ groups: ['Tellers', 'Audit'] });
    const held = new Set(['cash', 'audit-log', 'lobby']);
    const e = evaluate(p, policy, { now, held });
    expect(e.entitlements.map((x) => x.accessGroup.id)).toEqual(['cash', 'audit-log', 'lobby']);
    expect(heldViolations(p, held, e.entitlements, policy.invariants, policy.employeeTypes, now).map((v) => [v.invariant, v.accessGroupIds])).toEqual([
      ['teller-not-auditor', ['cash', 'audit-log', 'lobby']],
    ]);
  });
});

describe('invariants: class requirements', () => {
  const policy = policyOf(`${BASE}
invariants:
  - id: vault-trained-employees
    scope: { protectionClass: 4 }
    require: { employee: true, unexpired: vaultTrainingUntil }
  - id: vault-few
    scope: { accessGroups: [vault] }
    maxHolders: 2
`);

  it('grants class 4 to an employee whose training has not expired, and looks again when it does', () => {
    const e = evaluate(person({ groups: ['Vault'], attributes: { vaultTrainingUntil: '2026-12-31' } }), policy, { now });
    expect(e.entitlements.map((x) => x.accessGroup.id)).toEqual(['vault']);
    expect(e.nextCheckAt).toBe('2026-12-31T23:59:59.999Z');
  });

  it('refuses class 4 when the training expired, is missing, or the person is not an employee', () => {
    const expired = evaluate(person({ groups: ['Vault'], attributes: { vaultTrainingUntil: '2026-11-19' } }), policy, { now });
    expect(expired.denied).toEqual([
      expect.objectContaining({
        accessGroupId: 'vault',
        invariant: 'vault-trained-employees',
        reason: 'refused by invariant vault-trained-employees: requires vaultTrainingUntil not yet past; it ended 2026-11-19',
      }),
    ]);
    const missing = evaluate(person({ groups: ['Vault'] }), policy, { now });
    expect(missing.denied[0].reason).toMatch(/requires vaultTrainingUntil .* has none/);
    const contractor = evaluate(person({ groups: ['Vault'], employeeType: 'Contractor', attributes: { vaultTrainingUntil: '2030-01-01' } }), policy, { now });
    expect(contractor.denied[0].reason).toMatch(/only employees .* "Contractor"/);
  });

  it('keeps class 4 for someone who holds it when their training runs out, and reports it', () => {
    const p = person({ groups: ['Vault'], attributes: { vaultTrainingUntil: '2026-11-19' } });
    const e = evaluate(p, policy, { now, held: new Set(['vault']) });
    expect(e.entitlements.map((x) => x.accessGroup.id)).toEqual(['vault']);
    expect(e.violations?.map((v) => v.invariant)).toEqual(['vault-trained-employees']);
    expect(heldViolations(p, new Set(['vault']), e.entitlements, policy.invariants, policy.employeeTypes, now).map((v) => v.invariant)).toEqual([
      'vault-trained-employees',
    ]);
  });

  it('admits new holders until maxHolders is reached within one plan, then refuses', () => {
    const counts = holderCounts({ vault: 1 });
    const trained = { vaultTrainingUntil: '2030-01-01' };
    const first = evaluate(person({ groups: ['Vault'], attributes: trained }), policy, { now, holders: counts });
    const second = evaluate(person({ groups: ['Vault'], attributes: trained }), policy, { now, holders: counts });
    expect(first.entitlements.map((x) => x.accessGroup.id)).toEqual(['vault']);
    expect(second.entitlements).toEqual([]);
    expect(second.denied[0]).toEqual(
      expect.objectContaining({ invariant: 'vault-few', reason: 'refused by invariant vault-few: 2 people hold vault already (at most 2)' }),
    );
    // a holder is never refused what they hold
    const holder = evaluate(person({ groups: ['Vault'], attributes: trained }), policy, { now, holders: counts, held: new Set(['vault']) });
    expect(holder.entitlements.map((x) => x.accessGroup.id)).toEqual(['vault']);
    expect(overHolders(new Map([['vault', 3]]), policy.invariants)).toEqual([
      {
        invariant: 'vault-few',
        identityId: null,
        userName: null,
        accessGroupIds: ['vault'],
        message: 'at most 2 people per group of vault: 3 people hold vault',
      },
    ]);
    expect(overHolders(new Map([['vault', 2]]), policy.invariants)).toEqual([]);
  });

  it('a requirement given as a filter', () => {
    const p = policyOf(`${BASE}
invariants:
  - { id: vault-ops, scope: { accessGroups: [vault] }, require: { when: 'department eq "Ops"' } }
`);
    expect(evaluate(person({ groups: ['Vault'], department: 'Ops' }), p, { now }).entitlements).toHaveLength(1);
    expect(evaluate(person({ groups: ['Vault'], department: 'Sales' }), p, { now }).denied[0].reason).toBe(
      'refused by invariant vault-ops: requires department eq "Ops"; this identity does not match it',
    );
  });
});

describe('invariants: validation', () => {
  const bad = (inv: string) => () => parseMappings(`${BASE}\ninvariants:\n${inv}\n`, 'm.yaml');

  it('names the file, line and field of a reference to nothing, with a suggestion', () => {
    expect(bad('  - { id: x, separate: { accessGroups: [cash, audit-logs] } }')).toThrow(
      /m\.yaml:\d+:\d+: invariants\[0\]\.separate\.accessGroups\[1\]: unknown access group "audit-logs" \(did you mean "audit-log"\?\)/,
    );
    expect(bad('  - { id: x, separate: { roles: [teller, audit] } }')).toThrow(/invariants\[0\]\.separate\.roles\[1\]: unknown role bundle "audit"/);
    expect(bad('  - { id: x, scope: { accessGroups: [vault] }, require: { when: "department eq" } }')).toThrow(
      /invariants\[0\]\.require\.when: invalid SCIM filter/,
    );
  });

  it('refuses shapes that say nothing or two things, and duplicate ids', () => {
    expect(bad('  - { id: x }')).toThrow(/invariants\[0\]\.id: give `separate`, or `scope` with `require` and\/or `maxHolders`/);
    expect(bad('  - { id: x, separate: { accessGroups: [cash, vault] }, maxHolders: 3 }')).toThrow(/invariants\[0\]\.separate: an invariant is either/);
    expect(bad('  - { id: x, maxHolders: 3 }')).toThrow(/invariants\[0\]\.scope: `require` and `maxHolders` need a `scope`/);
    expect(bad('  - { id: x, separate: { accessGroups: [cash] } }')).toThrow(/invariants\[0\]\.separate\.accessGroups/);
    expect(bad('  - { id: x, scope: { protectionClass: 4 }, require: {} }')).toThrow(/invariants\[0\]\.require: give employee: true, unexpired or when/);
    expect(bad('  - { id: x, scope: { protectionClass: 4 }, maxHolders: 1 }\n  - { id: x, scope: { protectionClass: 3 }, maxHolders: 1 }')).toThrow(
      /invariants\[1\]\.id: duplicate invariant id "x"/,
    );
    expect(bad('  - { id: x, scope: { protectionClass: 4 }, maxHolders: 1, unknown: 1 }')).toThrow(/invariants\[0\]\.unknown: unknown key/);
  });
});
