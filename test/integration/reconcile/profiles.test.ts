import { afterEach, describe, expect, it } from 'vitest';
import { recordCredentialUse, upsertIdentity } from '../../../src/store/index.js';
import { markCredentialLost, runReconcile } from '../../../src/reconcile/index.js';
import { accessReport, explainIdentity } from '../../../src/governance/index.js';
import { createTestEngine, membershipsOf, type TestEngine } from '../../helpers/engine.js';

/**
 * The simulator playing lock systems that can do less (issue 16): no stored validity windows, no
 * account suspension, data-on-card keys that offline locks read. lockstep must then enforce
 * windows itself on schedule, take credentials from leavers, and say until when a revocation is
 * not yet on the locks.
 */

const MAPPINGS = `
version: 1
employeeTypes: [Employee]
accessGroups:
  - { id: perimeter, system: dc1, ref: AG-PERIM, name: Perimeter, protectionClass: 1 }
  - { id: power, system: dc1, ref: AG-POWER, name: Power room, protectionClass: 2 }
rules:
  - { id: staff, when: 'active eq true', grant: [perimeter] }
  - { id: power, when: 'groups eq "Power"', grant: [power], validity: { until: contractEnd } }
lifecycle: { leaver: suspend, preHireDays: 1 }
`;

let e: TestEngine | null = null;
afterEach(async () => {
  await e?.close();
  e = null;
});

const apply = async (t: TestEngine) => {
  const out = await runReconcile(t.ctx, { kind: 'full' }, { trigger: 'test', actor: 'test', apply: true, approved: true });
  expect(out.failed).toEqual([]);
  return out;
};

describe('a lock system that stores no validity windows', () => {
  it('grants without a window when it begins and revokes when it ends, on schedule', async () => {
    e = await createTestEngine('pglite', MAPPINGS, { now: '2026-06-01T08:00:00Z', profile: { validity: 'none' } });
    expect(e.ctx.drivers.get('dc1')!.capabilities.validity).toBe('none');
    await upsertIdentity(e.ctx.db, {
      source: 'hr',
      externalId: 'C1',
      userName: 'c1',
      employeeType: 'Contractor',
      groups: ['Power'],
      contractEnd: '2026-06-10',
      hireDate: '2026-06-03',
    });
    // before the pre-hire window: nothing in a system that could not hold the start date
    const early = await apply(e);
    expect(membershipsOf(e.sim, 'C1')).toEqual({});
    expect(early.nextCheckAt).toBe('2026-06-02T00:00:00.000Z');
    e.setNow('2026-06-02T00:00:01Z');
    const begun = await apply(e);
    // granted with no window (the simulator refuses windows in this profile), the end is lockstep's to enforce
    expect(membershipsOf(e.sim, 'C1')).toEqual({ 'AG-PERIM': { from: null, until: null }, 'AG-POWER': { from: null, until: null } });
    expect(Date.parse(begun.nextCheckAt!)).toBeLessThanOrEqual(Date.parse('2026-06-11T00:00:00Z'));
    e.setNow('2026-06-11T00:00:01Z');
    const ended = await apply(e);
    expect(ended.plan.operations.filter((o) => o.kind === 'revoke').map((o) => [o.group!.ref, o.reason.cause])).toEqual([['AG-POWER', 'expired']]);
    expect(Object.keys(membershipsOf(e.sim, 'C1'))).toEqual(['AG-PERIM']);
  });
});

describe('a lock system that keeps dates on the person only', () => {
  it('bounds the account by the latest end of its groups and still ends each group on time', async () => {
    e = await createTestEngine('pglite', MAPPINGS, { now: '2026-06-01T08:00:00Z', profile: { validity: 'account' } });
    expect(e.ctx.drivers.get('dc1')!.capabilities.validity).toBe('account');
    await upsertIdentity(e.ctx.db, {
      source: 'hr',
      externalId: 'C2',
      userName: 'c2',
      employeeType: 'Contractor',
      groups: ['Power'],
      contractEnd: '2026-06-10',
    });
    await apply(e);
    // the perimeter has no end: the account stays open-ended, the power room is lockstep's to end
    expect(e.sim.state.findByExternalId('C2')!.validity).toEqual({ from: null, until: null });
    expect(membershipsOf(e.sim, 'C2')).toEqual({ 'AG-PERIM': { from: null, until: null }, 'AG-POWER': { from: null, until: null } });
    // a contractor who only has the power room: the account itself ends with the contract
    await upsertIdentity(e.ctx.db, {
      source: 'hr',
      externalId: 'C3',
      userName: 'c3',
      employeeType: 'Contractor',
      groups: ['Power'],
      contractEnd: '2026-06-10',
    });
    const out = await apply(e);
    const c3 = e.sim.state.findByExternalId('C3')!;
    expect(out.plan.operations.find((o) => o.externalId === 'C3' && o.kind === 'create_account')!.account!.validity).toEqual({ from: null, until: null });
    expect(c3.validity.until).toBeNull();
    e.setNow('2026-06-11T00:00:01Z');
    const ended = await apply(e);
    expect(
      ended.plan.operations
        .filter((o) => o.kind === 'revoke')
        .map((o) => [o.externalId, o.group!.ref])
        .sort(),
    ).toEqual([
      ['C2', 'AG-POWER'],
      ['C3', 'AG-POWER'],
    ]);
  });

  it('moves the account’s end with the contract when every group it holds ends', async () => {
    const ONLY_POWER = MAPPINGS.replace("  - { id: staff, when: 'active eq true', grant: [perimeter] }\n", '');
    e = await createTestEngine('pglite', ONLY_POWER, { now: '2026-06-01T08:00:00Z', profile: { validity: 'account' } });
    await upsertIdentity(e.ctx.db, {
      source: 'hr',
      externalId: 'C4',
      userName: 'c4',
      employeeType: 'Contractor',
      groups: ['Power'],
      contractEnd: '2026-06-10',
    });
    await apply(e);
    const until = e.sim.state.findByExternalId('C4')!.validity.until;
    expect(until).not.toBeNull();
    expect(Date.parse(until!)).toBeGreaterThanOrEqual(Date.parse('2026-06-10T00:00:00Z'));
    // the contract is extended: the account's end follows
    await upsertIdentity(e.ctx.db, {
      source: 'hr',
      externalId: 'C4',
      userName: 'c4',
      employeeType: 'Contractor',
      groups: ['Power'],
      contractEnd: '2026-07-10',
    });
    const moved = await apply(e);
    expect(moved.plan.operations.map((o) => [o.kind, o.reason.cause])).toEqual([['update_account', 'validity']]);
    expect(Date.parse(e.sim.state.findByExternalId('C4')!.validity.until!)).toBeGreaterThanOrEqual(Date.parse('2026-07-10T00:00:00Z'));
    // converged: nothing more to change
    expect((await runReconcile(e.ctx, { kind: 'full' }, { trigger: 'test', actor: 'test', apply: false })).plan.operations).toEqual([]);
  });
});

describe('a lock system that cannot suspend accounts', () => {
  it('suspends a leaver’s credentials instead', async () => {
    e = await createTestEngine('pglite', MAPPINGS, { profile: { suspendAccount: false } });
    await upsertIdentity(e.ctx.db, { source: 'hr', externalId: 'L1', userName: 'l1', employeeType: 'Employee' });
    await apply(e);
    const acc = e.sim.state.findByExternalId('L1')!;
    const card = e.sim.state.issueCredential(acc.id, { type: 'card' });
    await upsertIdentity(e.ctx.db, { source: 'hr', externalId: 'L1', userName: 'l1', employeeType: 'Employee', active: false });
    const out = await apply(e);
    expect(out.plan.operations.map((o) => o.kind).sort()).toEqual(['revoke', 'set_credential_state']);
    const after = e.sim.state.findByExternalId('L1')!;
    expect(after.state).toBe('active');
    expect(after.credentials.find((c) => c.id === card.id)!.status).toBe('suspended');
    expect(after.memberships).toEqual([]);
  });
});

describe('a lock system that cannot suspend accounts: a rehire', () => {
  // class 1 with an unused-credential rule, so that a card last used before the person left is not taken again at once
  const UNUSED = MAPPINGS.replace('accessGroups:', 'classes:\n  "1": { unusedCredentialDays: 30 }\naccessGroups:');
  it('sets active again the credentials lockstep suspended when they left, and only those', async () => {
    e = await createTestEngine('postgres', UNUSED, { now: '2026-06-01T08:00:00Z', profile: { suspendAccount: false } });
    await upsertIdentity(e.ctx.db, { source: 'hr', externalId: 'R1', userName: 'r1', employeeType: 'Employee' });
    await apply(e);
    const acc = e.sim.state.findByExternalId('R1')!;
    const card = e.sim.state.issueCredential(acc.id, { type: 'card' });
    const pin = e.sim.state.issueCredential(acc.id, { type: 'pin' });
    const spare = e.sim.state.issueCredential(acc.id, { type: 'card' });
    await recordCredentialUse(
      e.ctx.db,
      'dc1',
      [card, pin, spare].map((c) => ({ credentialId: c.id, accountId: acc.id, at: '2026-06-01T09:00:00Z' })),
    );
    // an operator suspends the spare card before the person leaves: not lockstep's to give back
    await markCredentialLost(e.ctx, { system: 'dc1', credentialId: spare.id, actor: 'officer', state: 'suspended' });

    e.setNow('2026-06-10T08:00:00Z');
    await upsertIdentity(e.ctx.db, { source: 'hr', externalId: 'R1', userName: 'r1', employeeType: 'Employee', active: false });
    await apply(e);
    const gone = e.sim.state.findByExternalId('R1')!;
    expect(gone.credentials.map((c) => [c.id, c.status])).toEqual([
      [card.id, 'suspended'],
      [pin.id, 'suspended'],
      [spare.id, 'suspended'],
    ]);

    // back three months later: the card lockstep suspended is theirs again, the operator's stays suspended
    e.setNow('2026-09-10T08:00:00Z');
    await upsertIdentity(e.ctx.db, { source: 'hr', externalId: 'R1', userName: 'r1', employeeType: 'Employee', active: true });
    const back = await apply(e);
    const reactivated = back.plan.operations.filter((o) => o.kind === 'set_credential_state');
    expect(reactivated.map((o) => [o.credentialId, o.credentialState, o.reason.cause]).sort()).toEqual(
      [
        [card.id, 'active', 'joiner'],
        [pin.id, 'active', 'joiner'],
      ].sort(),
    );
    const now = e.sim.state.findByExternalId('R1')!;
    expect(Object.fromEntries(now.credentials.map((c) => [c.id, c.status]))).toEqual({ [card.id]: 'active', [pin.id]: 'active', [spare.id]: 'suspended' });

    // last used in June, more than 30 days ago, but active again only now: not taken again
    expect((await apply(e)).plan.operations).toEqual([]);
    // 31 days after the reactivation, unused since: suspended by the unused-credential rule, which says why
    e.setNow('2026-10-12T08:00:00Z');
    const later = await apply(e);
    const unused = later.plan.operations.filter((o) => o.kind === 'set_credential_state');
    expect(unused.map((o) => o.credentialId).sort()).toEqual([card.id, pin.id].sort());
    expect(unused[0].reason.text).toMatch(/not used since lockstep set it active again 2026-09-10/);
  });
});

describe('a data-on-card system (offline keys)', () => {
  it('says until when a revocation is not on the locks yet, in the plan, explain and the access report', async () => {
    e = await createTestEngine('postgres', MAPPINGS, { now: '2026-06-01T08:00:00Z', profile: { offline: { revalidationDays: 7 } } });
    expect(e.ctx.drivers.get('dc1')!.capabilities.offline).toEqual({ revalidationDays: 7 });
    await upsertIdentity(e.ctx.db, { source: 'hr', externalId: 'M1', userName: 'm1', employeeType: 'Employee', groups: ['Power'] });
    await apply(e);
    const acc = e.sim.state.findByExternalId('M1')!;
    const card = e.sim.state.issueCredential(acc.id, { type: 'card' });
    const key = e.sim.state.updateKey(card.id);
    expect(e.sim.state.swipe({ credentialId: card.id, group: 'AG-POWER' }).granted).toBe(true);

    // a mover: out of the power room
    await upsertIdentity(e.ctx.db, { source: 'hr', externalId: 'M1', userName: 'm1', employeeType: 'Employee', groups: [] });
    const out = await apply(e);
    const revoke = out.plan.operations.find((o) => o.kind === 'revoke')!;
    expect(revoke.group!.ref).toBe('AG-POWER');
    expect(revoke.learnedBy).toBe(key.expiresAt);
    expect(Object.keys(membershipsOf(e.sim, 'M1'))).toEqual(['AG-PERIM']);
    // the system took it; the key, updated before, still opens the power room on an offline lock
    expect(e.sim.state.swipe({ credentialId: card.id, group: 'AG-POWER' }).granted).toBe(true);

    const x = await explainIdentity(e.ctx, 'm1');
    expect(x.offlinePending).toMatchObject([{ system: 'dc1', groupRef: 'AG-POWER', kind: 'revoke', learnedBy: key.expiresAt }]);
    const rows = await accessReport(e.ctx);
    expect(rows.filter((r) => r.stillOnKeysUntil !== null).map((r) => [r.userName, r.groupRef, r.stillOnKeysUntil])).toEqual([
      ['m1', 'AG-POWER', key.expiresAt],
    ]);

    // the key is updated at an online reader: the lock learns it, and the door stays shut
    e.sim.state.updateKey(card.id);
    expect(e.sim.state.swipe({ credentialId: card.id, group: 'AG-POWER' }).granted).toBe(false);
    // once the bound has passed, nothing is pending any more
    e.setNow(new Date(Date.parse(key.expiresAt!) + 1000).toISOString());
    expect((await explainIdentity(e.ctx, 'm1')).offlinePending).toEqual([]);
  });
});
