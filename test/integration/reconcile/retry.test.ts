import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startGallagherHarness, type GallagherHarness } from '../../../connectors/gallagher/harness.js';
import { LockstepError } from '../../../src/domain/errors.js';
import { isRetryableResult, type Operation, type OperationResult } from '../../../src/domain/plan.js';
import { parseMappings } from '../../../src/policy/index.js';
import { applyOperations, runReconcile, type EngineContext } from '../../../src/reconcile/index.js';
import { upsertIdentity } from '../../../src/store/index.js';
import { createTestStore, resetStore, type TestStore } from '../../helpers/db.js';

const MAPPINGS = `
version: 1
accessGroups:
  - { id: cc-office, system: cc, ref: "353", name: DC1 office, protectionClass: 2 }
  - { id: cc-whitespace, system: cc, ref: "352", name: DC1 whitespace, protectionClass: 4 }
rules:
  - { id: staff, when: 'active eq true', grant: [cc-office] }
  - { id: dc-ops, when: 'groups eq "DC Operations"', grant: [cc-whitespace] }
`;

const grantOf = (accountId: string, externalId: string): Operation => ({
  key: `grant:cc:${accountId}:353`,
  kind: 'grant',
  system: 'cc',
  identityId: null,
  externalId,
  userName: null,
  accountId,
  group: { id: 'cc-office', ref: '353', name: 'DC1 office', protectionClass: 2 },
  validity: { from: null, until: null },
  reason: { cause: 'entitled', text: 'rule staff' },
  revocation: false,
});

describe('the executor and retryable errors', () => {
  let h: GallagherHarness;
  let store: TestStore;
  let ctx: EngineContext;
  const run = { runId: null, actor: 'test' };
  const apply = { trigger: 'test', actor: 'test', apply: true };

  beforeAll(async () => {
    h = await startGallagherHarness();
    store = await createTestStore('postgres');
    ctx = {
      db: store.db,
      policy: parseMappings(MAPPINGS, 'cc.yaml').policy,
      drivers: new Map([['cc', h.driver]]),
      logger: pino({ level: 'silent' }),
      now: () => new Date(),
      executor: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 10, concurrency: 2 },
    };
  });
  afterAll(async () => {
    await h.teardown();
    await store.drop();
  });
  beforeEach(async () => {
    await resetStore(store.db);
  });

  const membershipsOf = (accountId: string) =>
    h.fake
      .resolveCardholder(accountId)!
      .memberships.map((m) => m.groupId)
      .sort();

  it('retries a grant Command Centre refuses once with 409 (cardholder open for editing), and the grant lands', async () => {
    const a = await h.driver.upsertAccount({ externalId: 'E-409', displayName: 'Held Open' });
    h.fake.lockCardholder(h.fake.resolveCardholder(a.id)!.id, 'Operator Jane Smith at WS-07', { refusals: 1 });
    const [r] = await applyOperations(ctx, [grantOf(a.id, 'E-409')], run);
    expect(r).toMatchObject({ status: 'applied', attempts: 2 });
    expect(membershipsOf(a.id)).toContain('353');
  });

  it('retries the grant of a reconciliation run when the cardholder is held open once, and the door opens', async () => {
    const { identity } = await upsertIdentity(store.db, { source: 'hr', externalId: 'E-run', userName: 'run', displayName: 'Run Through' });
    expect((await runReconcile(ctx, { kind: 'full' }, apply)).failed).toEqual([]);
    const account = (await h.driver.findAccount('E-run'))!;
    await upsertIdentity(store.db, { source: 'hr', externalId: 'E-run', userName: 'run', displayName: 'Run Through', groups: ['DC Operations'] });
    h.fake.lockCardholder(h.fake.resolveCardholder(account.id)!.id, 'Operator Jane Smith at WS-07', { refusals: 1 });
    const out = await runReconcile(ctx, { kind: 'identities', ids: [identity.id] }, apply);
    expect(out.plan.operations.map((o) => `${o.kind}:${o.group?.ref}`)).toEqual(['grant:352']);
    expect(out.results).toEqual([expect.objectContaining({ status: 'applied', attempts: 2 })]);
    expect(membershipsOf(account.id)).toContain('352');
  });

  it('keeps retryable on a failed result when the attempts run out, for the queue to try later', async () => {
    const a = await h.driver.upsertAccount({ externalId: 'E-409b', displayName: 'Held Long' });
    h.fake.lockCardholder(h.fake.resolveCardholder(a.id)!.id);
    const [r] = await applyOperations(ctx, [grantOf(a.id, 'E-409b')], run);
    h.fake.unlockCardholder(h.fake.resolveCardholder(a.id)!.id);
    expect(r).toMatchObject({ status: 'failed', attempts: 3, error: { code: 'conflict', retryable: true } });
    expect(isRetryableResult(r)).toBe(true);
    expect(membershipsOf(a.id)).not.toContain('353');
  });

  it('does not retry an error that cannot get better, and says so on the result', async () => {
    const a = await h.driver.upsertAccount({ externalId: 'E-403', displayName: 'Not Allowed' });
    h.fake.failNext(403, { message: 'The operator does not have the privilege to modify this cardholder' });
    const [r] = await applyOperations(ctx, [grantOf(a.id, 'E-403')], run);
    // one refusal only: a second try would have landed
    expect(r).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'auth', retryable: false } });
    expect(isRetryableResult(r)).toBe(false);
    expect(membershipsOf(a.id)).not.toContain('353');
  });

  it('in the service (retries: queue) waits out nothing itself: the refused grant comes back retryable at once, for the queue to run again', async () => {
    const a = await h.driver.upsertAccount({ externalId: 'E-409q', displayName: 'Held Open Queue' });
    h.fake.lockCardholder(h.fake.resolveCardholder(a.id)!.id, 'Operator Jane Smith at WS-07', { refusals: 1 });
    const [r] = await applyOperations(ctx, [grantOf(a.id, 'E-409q')], { ...run, retries: 'queue' });
    expect(r).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'conflict', retryable: true } });
    expect(membershipsOf(a.id)).not.toContain('353');
    // the queue's next try lands it
    const [again] = await applyOperations(ctx, [grantOf(a.id, 'E-409q')], { ...run, retries: 'queue' });
    expect(again).toMatchObject({ status: 'applied', attempts: 1 });
    expect(membershipsOf(a.id)).toContain('353');
  });

  it('a queued identity job whose grant is refused once fails retryable without sleeping, and its next try converges', async () => {
    const { localLeases, reconcileIdentity } = await import('../../../src/queue/controller.js');
    const { identity } = await upsertIdentity(store.db, { source: 'hr', externalId: 'E-job', userName: 'job', displayName: 'Job Runner' });
    expect((await runReconcile(ctx, { kind: 'full' }, apply)).failed).toEqual([]);
    const account = (await h.driver.findAccount('E-job'))!;
    await upsertIdentity(store.db, { source: 'hr', externalId: 'E-job', userName: 'job', displayName: 'Job Runner', groups: ['DC Operations'] });
    h.fake.lockCardholder(h.fake.resolveCardholder(account.id)!.id, 'Operator Jane Smith at WS-07', { refusals: 1 });
    const c = {
      db: store.db,
      now: () => new Date(),
      logger: { warn: () => undefined },
      reconcile: (sc: Parameters<typeof runReconcile>[1], o: Parameters<typeof runReconcile>[2]) => runReconcile(ctx, sc, o),
      systems: ['cc'],
      leases: localLeases(),
      requeue: async () => undefined,
      retries: 'queue' as const,
    };
    const first = await reconcileIdentity(c, { identityId: identity.id, lane: 'normal', reason: 'hr' }).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(LockstepError);
    expect((first as LockstepError).retryable).toBe(true);
    expect(membershipsOf(account.id)).not.toContain('352');
    const second = await reconcileIdentity(c, { identityId: identity.id, lane: 'normal', reason: 'hr' });
    expect(second.applied).toBe(1);
    expect(membershipsOf(account.id)).toContain('352');
  });

  it('hands a Retry-After longer than it waits back on the result instead of trying sooner', async () => {
    const a = await h.driver.upsertAccount({ externalId: 'E-429', displayName: 'Slow Down' });
    h.fake.failNext(429, { retryAfterSeconds: 120 });
    const [r] = await applyOperations(ctx, [grantOf(a.id, 'E-429')], run);
    expect(r).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'rate_limited', retryable: true, retryAfterMs: 120_000 } });
    expect(isRetryableResult(r)).toBe(true);
  });
});

describe('isRetryableResult', () => {
  const at = '2026-06-01T08:00:00.000Z';
  const failed = (error: OperationResult['error']): OperationResult => ({ key: 'k', status: 'failed', attempts: 1, at, error });

  it('follows the kept flag, not the code', () => {
    expect(isRetryableResult(failed({ code: 'conflict', message: 'open for editing', retryable: true }))).toBe(true);
    expect(isRetryableResult(failed({ code: 'unavailable', message: 'a 503 the system says is final', retryable: false }))).toBe(false);
    const err = new LockstepError('timeout', 'no answer');
    expect(isRetryableResult(failed({ code: err.code, message: err.message, retryable: err.retryable }))).toBe(true);
  });

  it('falls back to the code for results recorded before the flag was kept', () => {
    expect(isRetryableResult(failed({ code: 'rate_limited', message: '429' }))).toBe(true);
    expect(isRetryableResult(failed({ code: 'conflict', message: '409' }))).toBe(false);
  });

  it('is false for what landed or was skipped', () => {
    const applied: OperationResult = { key: 'k', status: 'applied', attempts: 1, at };
    const skipped: OperationResult = { key: 'k', status: 'skipped', attempts: 0, at, error: { code: 'busy', message: 'left to its own job' } };
    expect(isRetryableResult(applied)).toBe(false);
    expect(isRetryableResult(skipped)).toBe(false);
  });
});
