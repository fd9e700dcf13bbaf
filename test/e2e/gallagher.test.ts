import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGallagherHarness, type GallagherHarness } from '../../connectors/gallagher/harness.js';
import { parseMappings } from '../../src/policy/index.js';
import { markCredentialLost, pullAccessEvents, runReconcile, type EngineContext } from '../../src/reconcile/index.js';
import { credentialUsage, markIdentityDeleted, upsertIdentity, listIncidents } from '../../src/store/index.js';
import { createTestStore, type TestStore } from '../helpers/db.js';

const MAPPINGS = `
version: 1
classes:
  "4": { unusedCredentialDays: 90 }
accessGroups:
  - { id: cc-office, system: cc, ref: "353", name: DC1 office, protectionClass: 2 }
  - { id: cc-whitespace, system: cc, ref: "352", name: DC1 whitespace, protectionClass: 4 }
rules:
  - { id: staff, when: 'active eq true', grant: [cc-office] }
  - { id: dc-ops, when: 'groups eq "DC Operations"', grant: [cc-whitespace], validity: { until: contractEnd } }
lifecycle: { leaver: suspend }
`;

describe('end to end with Gallagher Command Centre (fake, over HTTP)', () => {
  let h: GallagherHarness;
  let store: TestStore;
  let ctx: EngineContext;
  const full = { kind: 'full' } as const;
  const apply = { trigger: 'e2e', actor: 'e2e', apply: true };
  const cardholderOf = (externalId: string) => [...h.fake.model.cardholders.values()].find((c) => c.pdfValues.get('8801') === externalId);

  beforeAll(async () => {
    h = await startGallagherHarness();
    store = await createTestStore('postgres');
    ctx = {
      db: store.db,
      policy: parseMappings(MAPPINGS, 'cc.yaml').policy,
      drivers: new Map([['cc', h.driver]]),
      logger: pino({ level: 'silent' }),
      now: () => new Date(),
      executor: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 50, concurrency: 4 },
    };
  });
  afterAll(async () => {
    await h.teardown();
    await store.drop();
  });

  it('brings a joiner in, moves a mover, and suspends a leaver in Command Centre', async () => {
    const { identity: ada } = await upsertIdentity(store.db, {
      source: 'hr',
      externalId: 'E100',
      userName: 'ada',
      displayName: 'Ada Lovelace',
      groups: ['DC Operations'],
      contractEnd: '2027-03-31',
    });
    const joined = await runReconcile(ctx, full, apply);
    expect(joined.failed).toEqual([]);
    const ch = cardholderOf('E100')!;
    expect(ch).toBeTruthy();
    expect(ch.authorised).toBe(true);
    const groups = Object.fromEntries(ch.memberships.map((m) => [m.groupId, m.until ?? null]));
    expect(Object.keys(groups).sort()).toEqual(['352', '353', '360']); // 360 carries the link field
    expect(groups['352']).toMatch(/^2027-03-31T23:59:59/);

    await upsertIdentity(store.db, { source: 'hr', externalId: 'E100', userName: 'ada', displayName: 'Ada Lovelace', groups: ['Finance'] });
    const moved = await runReconcile(ctx, full, apply);
    expect(moved.plan.operations.map((o) => `${o.kind}:${o.group?.ref ?? ''}`)).toEqual(['revoke:352']);
    expect(
      cardholderOf('E100')!
        .memberships.map((m) => m.groupId)
        .sort(),
    ).toEqual(['353', '360']);

    await markIdentityDeleted(store.db, ada.id);
    const left = await runReconcile(ctx, { kind: 'identities', ids: [ada.id] }, apply);
    expect(left.failed).toEqual([]);
    const after = cardholderOf('E100')!;
    expect(after.authorised).toBe(false);
    expect(after.memberships.map((m) => m.groupId)).toEqual(['360']);
  });

  it('marks a lost card so at once and opens an incident; access events update last use', async () => {
    await upsertIdentity(store.db, { source: 'hr', externalId: 'E200', userName: 'bob', displayName: 'Bob Byte', groups: ['DC Operations'] });
    await runReconcile(ctx, full, apply);
    const account = (await h.driver.findAccount('E200'))!;
    const cardId = await h.addCredential(account.id);

    await pullAccessEvents(ctx, 'cc'); // the first read starts the cursor at "now"
    await h.recordAccess(account.id, cardId);
    expect((await pullAccessEvents(ctx, 'cc')).events).toBeGreaterThan(0);
    expect((await credentialUsage(store.db, 'cc')).get(cardId)).toBeTruthy();

    const lost = await markCredentialLost(ctx, { system: 'cc', credentialId: cardId, actor: 'security-desk', note: 'left in a taxi' });
    expect(lost.result.status).toBe('applied');
    const card = (await h.driver.getAccount(account.id))!.credentials.find((c) => c.id === cardId)!;
    expect(card.status).toBe('lost');
    const incidents = await listIncidents(store.db, { status: 'open' });
    expect(incidents.map((i) => i.credentialId)).toContain(cardId);
  });
});
