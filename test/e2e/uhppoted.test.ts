import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HARNESS_CONTROLLERS, startUhppotedHarness, type UhppotedHarness } from '../../connectors/uhppoted/harness.js';
import { parseMappings } from '../../src/policy/index.js';
import { pullAccessEvents, runReconcile, type EngineContext } from '../../src/reconcile/index.js';
import { credentialUsage, markIdentityDeleted, upsertIdentity } from '../../src/store/index.js';
import { createTestStore, type TestStore } from '../helpers/db.js';

const MAPPINGS = `
version: 1
accessGroups:
  - { id: door-entrance, system: uh, ref: entrance, name: Entrance, protectionClass: 1 }
  - { id: door-lab, system: uh, ref: lab, name: Lab, protectionClass: 2 }
rules:
  - { id: staff, when: 'active eq true', grant: [door-entrance] }
  - { id: lab, when: 'groups eq "Lab"', grant: [door-lab], validity: { until: contractEnd } }
lifecycle: { leaver: suspend }
`;

describe('end to end with uhppoted-rest (fake, over HTTP)', () => {
  let h: UhppotedHarness;
  let store: TestStore;
  let ctx: EngineContext;
  const [C1, C2] = HARNESS_CONTROLLERS;
  const full = { kind: 'full' } as const;
  const apply = { trigger: 'e2e', actor: 'e2e', apply: true };

  beforeAll(async () => {
    h = await startUhppotedHarness();
    store = await createTestStore('pglite');
    ctx = {
      db: store.db,
      policy: parseMappings(MAPPINGS, 'uh.yaml').policy,
      drivers: new Map([['uh', h.driver]]),
      logger: pino({ level: 'silent' }),
      now: () => new Date(),
      executor: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 50, concurrency: 4 },
    };
  });
  afterAll(async () => {
    await h?.teardown();
    await store?.drop();
  });

  it('puts a joiner’s card on the controllers, settles, moves a mover and suspends a leaver', async () => {
    const { identity: ada } = await upsertIdentity(store.db, {
      source: 'hr',
      externalId: 'E100',
      userName: 'ada',
      displayName: 'Ada Lovelace',
      groups: ['Lab'],
      contractEnd: '2031-03-31',
    });
    const joined = await runReconcile(ctx, full, apply);
    expect(joined.failed).toEqual([]);
    const account = (await h.driver.findAccount('E100'))!;
    expect(account).toMatchObject({ externalId: 'E100', displayName: 'Ada Lovelace', state: 'active' });
    const card = (c: number) => h.fake.controller(c).cards.get(Number(account.id))!;
    expect(card(C1).doors).toMatchObject({ '1': true, '2': true });
    expect(card(C2).doors).toMatchObject({ '1': true });
    expect(account.memberships.map((m) => m.group).sort()).toEqual(['entrance', 'lab']);

    // Nothing left to do: what the driver reports is what lockstep wants.
    const again = await runReconcile(ctx, full, apply);
    expect(again.plan.operations.map((o) => o.kind)).toEqual([]);

    await upsertIdentity(store.db, { source: 'hr', externalId: 'E100', userName: 'ada', displayName: 'Ada Lovelace', groups: ['Finance'] });
    const moved = await runReconcile(ctx, full, apply);
    expect(moved.failed).toEqual([]);
    expect(moved.plan.operations.some((o) => o.kind === 'revoke' && o.group?.ref === 'lab')).toBe(true);
    expect(card(C1).doors).toMatchObject({ '1': true, '2': false });
    expect((await runReconcile(ctx, full, apply)).plan.operations).toEqual([]);

    await markIdentityDeleted(store.db, ada.id);
    const left = await runReconcile(ctx, { kind: 'identities', ids: [ada.id] }, apply);
    expect(left.failed).toEqual([]);
    expect(card(C1)['end-date']).toBe('2000-01-01');
    expect(card(C2)['end-date']).toBe('2000-01-01');
    expect((await h.driver.getAccount(account.id))?.state).toBe('suspended');
  });

  it('records a swipe as the card’s last use', async () => {
    await upsertIdentity(store.db, { source: 'hr', externalId: 'E200', userName: 'bob', displayName: 'Bob Byte', groups: [] });
    await runReconcile(ctx, full, apply);
    const account = (await h.driver.findAccount('E200'))!;
    await pullAccessEvents(ctx, 'uh'); // the first read starts the cursor at "now"
    await h.recordAccess(account.id, account.id);
    expect((await pullAccessEvents(ctx, 'uh')).events).toBeGreaterThan(0);
    expect((await credentialUsage(store.db, 'uh')).get(account.id)).toBeTruthy();
  });
});
