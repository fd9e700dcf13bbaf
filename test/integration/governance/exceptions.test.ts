import { describe, expect, it } from 'vitest';
import { runReconcile } from '../../../src/reconcile/index.js';
import { accessReport, createAccessException, explainIdentity, findAccessExceptions, removeAccessException } from '../../../src/governance/index.js';
import { buildPlan } from '../../../src/reconcile/plan.js';
import { iterateAudit } from '../../../src/store/index.js';
import { storeKinds } from '../../helpers/db.js';
import { hrPerson, membershipsOf, useTestEngine, type TestEngine } from '../../helpers/engine.js';
import { MAPPINGS } from '../reconcile/mappings.js';

const apply = { trigger: 'test', actor: 'test', apply: true };

describe.each(storeKinds)('access exceptions on %s', (kind) => {
  let e!: TestEngine;
  useTestEngine(kind, MAPPINGS, {}, (x) => (e = x));
  const scope = (id: string) => ({ kind: 'identities' as const, ids: [id] });
  const groupsOf = (key: string) => Object.keys(membershipsOf(e.sim, key)).sort();

  it('denies a group the rules grant until the exception ends, with the exception as the reason, and grants it again then', async () => {
    const { identity } = await hrPerson(e, 'E1', { groups: ['DC Operations'] });
    await runReconcile(e.ctx, scope(identity.id), apply);
    expect(groupsOf('E1')).toEqual(['AG-OFFICE', 'AG-PERIM', 'AG-POWER', 'AG-WS']);

    const { exception } = await createAccessException(e.ctx, {
      who: 'e1@example.com',
      accessGroupId: 'whitespace',
      until: '2026-06-15',
      reason: 'Q2 review: no longer works in the hall',
      actor: 'api:alice',
    });
    expect(exception).toMatchObject({ until: '2026-06-15T23:59:59.999Z', source: 'manual', createdBy: 'api:alice', removedAt: null });

    const built = await buildPlan(e.ctx, scope(identity.id));
    const revoke = built.plan.operations.find((o) => o.kind === 'revoke')!;
    expect(revoke.group!.ref).toBe('AG-WS');
    expect(revoke.reason.cause).toBe('exception');
    expect(revoke.reason.text).toContain(
      `denied by exception ${exception.id} until 2026-06-15T23:59:59.999Z (api:alice): Q2 review: no longer works in the hall`,
    );
    // the person is looked at again when the exception ends
    expect(built.nextCheckAtByIdentity[identity.id]).toBe('2026-06-15T23:59:59.999Z');

    // explain shows it while the membership is still held, and the access report names it
    const before = await accessReport(e.ctx);
    const wsRow = before.find((r) => r.userName === 'e1@example.com' && r.groupRef === 'AG-WS')!;
    expect(wsRow).toMatchObject({ justified: false, exceptionId: exception.id });
    expect(wsRow.why).toMatch(/^denied by exception .*; being revoked$/);

    await runReconcile(e.ctx, scope(identity.id), apply);
    expect(groupsOf('E1')).toEqual(['AG-OFFICE', 'AG-PERIM', 'AG-POWER']);
    const x = await explainIdentity(e.ctx, 'e1@example.com');
    expect(x.evaluation.denied).toEqual([
      {
        accessGroupId: 'whitespace',
        rule: 'dc-ops',
        reason: expect.stringContaining('Q2 review'),
        exception: expect.objectContaining({ id: exception.id, until: '2026-06-15T23:59:59.999Z' }),
      },
    ]);
    expect(x.exceptions.map((y) => y.id)).toEqual([exception.id]);
    expect(x.evaluation.nextCheckAt).toBe('2026-06-15T23:59:59.999Z');

    // the audit log has the exception and the revocation with its reason
    const audit = [];
    for await (const a of iterateAudit(e.ctx.db, { subject: identity.id })) audit.push(a);
    expect(audit.find((a) => a.action === 'exception.created')).toMatchObject({
      actor: 'api:alice',
      data: { exceptionId: exception.id, accessGroupId: 'whitespace', reason: 'Q2 review: no longer works in the hall' },
    });
    const revoked = audit.find((a) => a.action === 'revoke' || (a.data as { kind?: string }).kind === 'revoke');
    expect(JSON.stringify(revoked)).toContain(exception.id);

    // at its end the group comes back
    e.setNow('2026-06-16T00:00:00Z');
    expect(await findAccessExceptions(e.ctx, {})).toEqual([]);
    const after = await runReconcile(e.ctx, scope(identity.id), apply);
    expect(after.plan.operations.filter((o) => o.kind === 'grant').map((o) => `${o.group!.ref} ${o.reason.cause}`)).toEqual(['AG-WS entitled']);
    expect(groupsOf('E1')).toEqual(['AG-OFFICE', 'AG-PERIM', 'AG-POWER', 'AG-WS']);
    expect((await findAccessExceptions(e.ctx, { all: true })).map((y) => y.id)).toEqual([exception.id]);
  });

  it('gives the group back when an exception is removed early, and records why', async () => {
    const { identity } = await hrPerson(e, 'E1', { groups: ['DC Operations'] });
    await runReconcile(e.ctx, scope(identity.id), apply);
    const { exception } = await createAccessException(e.ctx, {
      who: identity.id,
      accessGroupId: 'power',
      until: '2026-07-01T12:00:00Z',
      reason: 'incident 42',
      actor: 'cli:bob',
    });
    await runReconcile(e.ctx, scope(identity.id), apply);
    expect(groupsOf('E1')).not.toContain('AG-POWER');
    const removed = await removeAccessException(e.ctx, exception.id, { actor: 'api:carol', reason: 'incident closed' });
    expect(removed).toMatchObject({ removedBy: 'api:carol', removedReason: 'incident closed' });
    await expect(removeAccessException(e.ctx, exception.id, { actor: 'api:carol', reason: 'again' })).rejects.toMatchObject({ code: 'precondition' });
    await runReconcile(e.ctx, scope(identity.id), apply);
    expect(groupsOf('E1')).toContain('AG-POWER');
    const audit = [];
    for await (const a of iterateAudit(e.ctx.db, { subject: identity.id })) if (a.action.startsWith('exception.')) audit.push(a);
    expect(audit.map((a) => `${a.action} ${a.actor} ${String(a.data.reason)}`)).toEqual([
      'exception.created cli:bob incident 42',
      'exception.removed api:carol incident closed',
    ]);
  });

  it('refuses bad exceptions naming the field', async () => {
    await hrPerson(e, 'E1');
    const base = { who: 'e1@example.com', accessGroupId: 'power', until: '2026-07-01', reason: 'r', actor: 'test' };
    await expect(createAccessException(e.ctx, { ...base, accessGroupId: 'nope' })).rejects.toMatchObject({ code: 'validation', field: 'accessGroup' });
    await expect(createAccessException(e.ctx, { ...base, until: '2026-05-01' })).rejects.toMatchObject({ code: 'validation', field: 'until' });
    await expect(createAccessException(e.ctx, { ...base, until: 'next week' })).rejects.toMatchObject({ code: 'validation', field: 'until' });
    await expect(createAccessException(e.ctx, { ...base, reason: '  ' })).rejects.toMatchObject({ code: 'validation', field: 'reason' });
    await expect(createAccessException(e.ctx, { ...base, who: 'nobody@example.com' })).rejects.toMatchObject({ code: 'not_found', field: 'identity' });
  });

  it('counts revocations by exception in the mass-revocation guard', async () => {
    const ids: string[] = [];
    for (const k of ['E1', 'E2', 'E3', 'E4']) ids.push((await hrPerson(e, k)).identity.id);
    await runReconcile(e.ctx, { kind: 'full' }, apply);
    for (const k of ['E1', 'E2', 'E3', 'E4'])
      await createAccessException(e.ctx, {
        who: `${k.toLowerCase()}@example.com`,
        accessGroupId: 'perimeter',
        until: '2026-09-01',
        reason: 'site closed',
        actor: 'api:alice',
      });
    const held = await runReconcile(e.ctx, { kind: 'full' }, apply);
    expect(held.held).toBe(true);
    expect(groupsOf('E1')).toContain('AG-PERIM');
  });
});
