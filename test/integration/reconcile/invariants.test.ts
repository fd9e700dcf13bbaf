import { describe, expect, it } from 'vitest';
import { formatPlan, runReconcile } from '../../../src/reconcile/index.js';
import { accessReport, startReview, violationReport, violationReportCsv } from '../../../src/governance/index.js';
import { metricsRegistry, registerViolationSource } from '../../../src/metrics/index.js';
import { cloudEventOf } from '../../../src/runtime/notifications.js';
import { violationCounts } from '../../../src/store/invariants.js';
import { iterateAudit } from '../../../src/store/index.js';
import { listViolations } from '../../../src/store/invariants.js';
import { storeKinds } from '../../helpers/db.js';
import { hrPerson, membershipsOf, useTestEngine, type TestEngine } from '../../helpers/engine.js';

const MAPPINGS = `
version: 1
accessGroups:
  - { id: lobby, system: dc1, ref: AG-LOBBY, name: Lobby, protectionClass: 1 }
  - { id: cash, system: dc1, ref: AG-CASH, name: Cash room, protectionClass: 3 }
  - { id: audit-log, system: dc1, ref: AG-AUDIT, name: Audit-log room, protectionClass: 3 }
  - { id: vault, system: dc1, ref: AG-VAULT, name: Vault, protectionClass: 4 }
rules:
  - { id: everyone, when: 'active eq true', grant: [lobby] }
  - { id: cash, when: 'groups eq "Cash"', grant: [cash] }
  - { id: audit, when: 'groups eq "Audit"', grant: [audit-log] }
  - { id: vault, when: 'groups eq "Vault"', grant: [vault] }
invariants:
  - { id: cash-apart, separate: { accessGroups: [cash, audit-log] } }
  - { id: vault-one, scope: { accessGroups: [vault] }, maxHolders: 1 }
reviews:
  - { id: sod, scope: { violations: true } }
  - { id: rooms, scope: { accessGroups: [lobby, cash] } }
lifecycle: { guard: { minRevocationsToHold: 100 } }
`;

const apply = { trigger: 'test', actor: 'test', apply: true };
const full = { kind: 'full' as const };

async function auditActions(e: TestEngine, prefix: string) {
  const out: Array<{ action: string; subject: string | null; data: Record<string, unknown> }> = [];
  for await (const a of iterateAudit(e.ctx.db)) if (a.action.startsWith(prefix)) out.push({ action: a.action, subject: a.subject, data: a.data });
  return out;
}

describe.each(storeKinds)('invariants in plans on %s', (kind) => {
  let e!: TestEngine;
  useTestEngine(kind, MAPPINGS, { now: '2026-06-01T08:00:00.000Z' }, (x) => (e = x));

  it('never grants what would break an invariant, and admits maxHolders new holders in one plan', async () => {
    await hrPerson(e, 'E1', { groups: ['Cash', 'Audit'] });
    await hrPerson(e, 'E2', { groups: ['Vault'] });
    await hrPerson(e, 'E3', { groups: ['Vault'] });
    const run = await runReconcile(e.ctx, full, apply);
    expect(Object.keys(membershipsOf(e.sim, 'E1'))).toEqual(['AG-LOBBY']);
    const vaults = ['E2', 'E3'].filter((x) => 'AG-VAULT' in membershipsOf(e.sim, x));
    expect(vaults).toHaveLength(1);
    expect(run.plan.violations).toBeUndefined();
    // the next plan leaves it so: the second person is still refused, the first keeps the vault
    const again = await runReconcile(e.ctx, full, apply);
    expect(again.plan.operations).toEqual([]);
  });

  it('keeps held access that breaks an invariant, reports it once, and says when it is resolved', async () => {
    const { identity } = await hrPerson(e, 'E1', { groups: ['Cash'] });
    await runReconcile(e.ctx, full, apply);
    expect(Object.keys(membershipsOf(e.sim, 'E1')).sort()).toEqual(['AG-CASH', 'AG-LOBBY']);
    // someone adds the audit-log room in the lock system, and the mappings (a group change) justify it
    await hrPerson(e, 'E1', { groups: ['Cash', 'Audit'] });
    const account = e.sim.state.findByExternalId('E1')!;
    e.sim.state.putMembership(account.id, 'AG-AUDIT', {});

    const first = await runReconcile(e.ctx, full, apply);
    // nothing is revoked by the invariant: both rooms stay, and the plan says why it is a problem
    expect(first.plan.operations.filter((o) => o.revocation)).toEqual([]);
    expect(Object.keys(membershipsOf(e.sim, 'E1')).sort()).toEqual(['AG-AUDIT', 'AG-CASH', 'AG-LOBBY']);
    expect(first.plan.violations).toEqual([
      {
        invariant: 'cash-apart',
        identityId: identity.id,
        userName: 'e1@example.com',
        accessGroupIds: ['cash', 'audit-log'],
        message: 'no one holds two of cash, audit-log: holds cash and audit-log together',
      },
    ]);
    expect(formatPlan(first.plan)).toContain(
      'Violation: invariant cash-apart: e1@example.com cash, audit-log: no one holds two of cash, audit-log: holds cash and audit-log together',
    );
    expect((await listViolations(e.ctx.db)).map((v) => [v.invariant, v.identityId, v.accessGroupIds])).toEqual([
      ['cash-apart', identity.id, ['cash', 'audit-log']],
    ]);

    // a second plan finds it again: no second notification
    await runReconcile(e.ctx, full, apply);
    await runReconcile(e.ctx, { kind: 'identities', ids: [identity.id] }, apply);
    expect(await auditActions(e, 'violation.')).toEqual([
      {
        action: 'violation.found',
        subject: identity.id,
        data: expect.objectContaining({ invariant: 'cash-apart', accessGroupIds: ['cash', 'audit-log'], userName: 'e1@example.com' }),
      },
    ]);

    // the access report and the violation report show it
    const rows = await accessReport(e.ctx);
    expect(rows.filter((r) => r.userName === 'e1@example.com').map((r) => [r.accessGroupId, r.violations ?? []])).toEqual([
      ['lobby', []],
      ['cash', ['cash-apart']],
      ['audit-log', ['cash-apart']],
    ]);
    const report = await violationReport(e.ctx);
    expect(report.invariants.map((x) => [x.id, x.violations])).toEqual([
      ['cash-apart', 1],
      ['vault-one', 0],
    ]);
    expect(violationReportCsv(report).split('\n')[1]).toBe(
      `cash-apart,e1@example.com,${identity.id},cash;audit-log,no one holds two of cash,"audit-log: holds cash and audit-log together"`
        .replace('cash;audit-log', '"cash;audit-log"')
        .replace('no one holds two of cash,"audit-log', '"no one holds two of cash, audit-log'),
    );

    // the operator acts (the lock system loses the audit-log room; the group goes at source): resolved
    await hrPerson(e, 'E1', { groups: ['Cash'] });
    await runReconcile(e.ctx, { kind: 'identities', ids: [identity.id] }, apply);
    expect(Object.keys(membershipsOf(e.sim, 'E1')).sort()).toEqual(['AG-CASH', 'AG-LOBBY']);
    expect(await listViolations(e.ctx.db)).toEqual([]);
    expect((await auditActions(e, 'violation.')).map((a) => a.action)).toEqual(['violation.found', 'violation.resolved']);
  });

  it('makes violations evidence: /metrics, the violation.found CloudEvent, and review campaigns that list violators first', async () => {
    await hrPerson(e, 'E0', { userName: 'aaron@example.com', groups: [] });
    const { identity } = await hrPerson(e, 'E1', { groups: ['Cash', 'Audit'] });
    await runReconcile(e.ctx, full, apply);
    e.sim.state.putMembership(e.sim.state.findByExternalId('E1')!.id, 'AG-CASH', {});
    e.sim.state.putMembership(e.sim.state.findByExternalId('E1')!.id, 'AG-AUDIT', {});
    await runReconcile(e.ctx, full, apply);

    const unregister = registerViolationSource(() => violationCounts(e.ctx.db));
    try {
      expect(await metricsRegistry.getSingleMetricAsString('lockstep_invariant_violations')).toMatch(
        /lockstep_invariant_violations\{invariant="cash-apart"\} 1/,
      );
    } finally {
      unregister();
    }
    let found = null;
    for await (const a of iterateAudit(e.ctx.db)) if (a.action === 'violation.found') found = a;
    if (!found) throw new Error('no violation.found entry in the audit log');
    expect(cloudEventOf(found)).toMatchObject({
      type: 'io.lockstep.violation.found',
      subject: identity.id,
      data: { invariant: 'cash-apart', accessGroupIds: ['cash', 'audit-log'] },
    });

    // a campaign over the violations: the two rooms held together, nobody else
    const sod = await startReview(e.ctx, 'sod', 'test');
    expect(sod.items.map((i) => [i.userName, i.accessGroupId, i.violations])).toEqual([
      ['e1@example.com', 'audit-log', ['cash-apart']],
      ['e1@example.com', 'cash', ['cash-apart']],
    ]);
    // a campaign of rooms: the violator comes first, before aaron (who sorts first by name)
    const rooms = await startReview(e.ctx, 'rooms', 'test');
    expect(rooms.items.map((i) => [i.userName, i.accessGroupId, i.violations])).toEqual([
      ['e1@example.com', 'cash', ['cash-apart']],
      ['aaron@example.com', 'lobby', []],
      ['e1@example.com', 'lobby', []],
    ]);
  });

  it('reports a group held by more people than maxHolders allows, without revoking anyone', async () => {
    await hrPerson(e, 'E2', { groups: ['Vault'] });
    await hrPerson(e, 'E3', { groups: ['Vault'] });
    await runReconcile(e.ctx, full, apply);
    const other = ['E2', 'E3'].find((x) => !('AG-VAULT' in membershipsOf(e.sim, x)))!;
    e.sim.state.putMembership(e.sim.state.findByExternalId(other)!.id, 'AG-VAULT', {});
    const run = await runReconcile(e.ctx, full, apply);
    // the one who holds it without being admitted keeps it: an invariant never revokes
    expect(run.plan.operations.filter((o) => o.revocation)).toEqual([]);
    expect(run.plan.violations).toEqual([
      {
        invariant: 'vault-one',
        identityId: null,
        userName: null,
        accessGroupIds: ['vault'],
        message: 'at most 1 people per group of vault: 2 people hold vault',
      },
    ]);
  });
});
