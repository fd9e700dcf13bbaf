import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { parseMappings } from '../../src/policy/index.js';
import { markCredentialLost, runReconcile, type EngineContext } from '../../src/reconcile/index.js';
import { accessReport, explainIdentity } from '../../src/governance/index.js';
import { openStore, upsertIdentity, type Db } from '../../src/store/index.js';
import { startSaltoHarness, type SaltoHarness } from './harness.js';

/**
 * The engine driving Nebula through this driver (store in PGlite, the fake over loopback gRPC):
 * a revocation is taken by Nebula at once, and lockstep says until when the offline locks may
 * still open for the key, the data-on-card behaviour the driver declares with capabilities.offline.
 */

const MAPPINGS = `
version: 1
employeeTypes: [Employee]
accessGroups:
  - { id: office, system: salto, ref: office, name: Office, protectionClass: 1 }
  - { id: lab, system: salto, ref: lab, name: Lab, protectionClass: 2 }
rules:
  - { id: staff, when: 'active eq true', grant: [office] }
  - { id: lab, when: 'groups eq "Lab"', grant: [lab] }
lifecycle: { leaver: suspend }
`;

let h: SaltoHarness | undefined;
let db: Db | undefined;
afterEach(async () => {
  await h?.teardown();
  await db?.close();
  h = undefined;
  db = undefined;
});

describe('the engine with a Salto Nebula system', () => {
  it('revokes in Nebula, and reports the revocation as still on the key until the key expires or is updated', async () => {
    h = await startSaltoHarness();
    db = await openStore({ dataDir: 'memory://' });
    const { policy } = parseMappings(MAPPINGS, 'salto-mappings.yaml');
    const ctx: EngineContext = {
      db,
      policy,
      drivers: new Map([['salto', h.driver]]),
      logger: pino({ level: 'silent' }),
      now: () => new Date(),
      executor: { maxAttempts: 2, baseDelayMs: 5, maxDelayMs: 20, concurrency: 4 },
    };
    const apply = async () => {
      const out = await runReconcile(ctx, { kind: 'full' }, { trigger: 'test', actor: 'test', apply: true, approved: true });
      expect(out.failed).toEqual([]);
      return out;
    };

    await upsertIdentity(db, { source: 'hr', externalId: 'S1', userName: 's1', employeeType: 'Employee', groups: ['Lab'] });
    await apply();
    const user = h.userName('S1');
    expect(
      h.fake
        .accessRightsOf(user)
        .map((r) => r.accessRight.split('/').pop())
        .sort(),
    ).toEqual(['lab', 'office']);
    const key = h.fake.issueCardKey(user);
    const keyExpiresAt = new Date(key.updatedAt! + h.fake.keyRenewalMs).toISOString();
    const lab = `${h.fake.installation}/access-rights/lab`;
    expect(h.fake.offlineLockOpens(user, lab)).toBe(true);

    // a mover: out of the lab
    await upsertIdentity(db, { source: 'hr', externalId: 'S1', userName: 's1', employeeType: 'Employee', groups: [] });
    const out = await apply();
    const revoke = out.plan.operations.find((o) => o.kind === 'revoke');
    expect(revoke?.group?.ref).toBe('lab');
    expect(revoke?.learnedBy).toBe(keyExpiresAt);
    expect(h.fake.accessRightsOf(user).map((r) => r.accessRight.split('/').pop())).toEqual(['office']);
    // Nebula took it; the key still carries it for offline locks
    expect(key.outdated).toBe(true);
    expect(h.fake.offlineLockOpens(user, lab)).toBe(true);

    const x = await explainIdentity(ctx, 's1');
    expect(x.offlinePending).toMatchObject([{ system: 'salto', groupRef: 'lab', kind: 'revoke', learnedBy: keyExpiresAt }]);
    const rows = await accessReport(ctx);
    expect(rows.filter((r) => r.stillOnKeysUntil !== null).map((r) => [r.userName, r.groupRef, r.stillOnKeysUntil])).toEqual([['s1', 'lab', keyExpiresAt]]);

    // the key presented at an online reader learns it: the offline lab door stays shut
    h.fake.presentKey(user);
    expect(h.fake.offlineLockOpens(user, lab)).toBe(false);
    const office = `${h.fake.installation}/access-rights/office`;
    expect(h.fake.offlineLockOpens(user, office)).toBe(true);

    // a leaver (leaver: suspend): blocked in Nebula, and the block too is on the key until it is updated
    await upsertIdentity(db, { source: 'hr', externalId: 'S1', userName: 's1', employeeType: 'Employee', groups: [], active: false });
    const left = await apply();
    const taken = left.plan.operations.filter((o) => o.revocation);
    expect(taken.length).toBeGreaterThan(0);
    for (const o of taken) expect(o.learnedBy, `${o.kind} learnedBy`).toBeDefined();
    expect(h.fake.userByName(user)?.blocked).toBe(true);
    expect(h.fake.offlineLockOpens(user, office)).toBe(true);
    h.fake.presentKey(user);
    expect(h.fake.offlineLockOpens(user, office)).toBe(false);
  });

  it('kills a lost key at once by cancelling it (keys cannot be suspended: that is refused, naming what it can do)', async () => {
    h = await startSaltoHarness();
    db = await openStore({ dataDir: 'memory://' });
    const { policy } = parseMappings(MAPPINGS, 'salto-mappings.yaml');
    const ctx: EngineContext = {
      db,
      policy,
      drivers: new Map([['salto', h.driver]]),
      logger: pino({ level: 'silent' }),
      now: () => new Date(),
      executor: { maxAttempts: 2, baseDelayMs: 5, maxDelayMs: 20, concurrency: 4 },
    };
    await upsertIdentity(db, { source: 'hr', externalId: 'S2', userName: 's2', employeeType: 'Employee' });
    await runReconcile(ctx, { kind: 'full' }, { trigger: 'test', actor: 'test', apply: true, approved: true });
    const user = h.userName('S2');
    h.fake.issueCardKey(user);
    const account = (await h.driver.listAccounts(null)).items.find((a) => a.externalId === 'S2')!;
    const key = account.credentials[0];
    expect(key.status).toBe('active');

    await expect(markCredentialLost(ctx, { system: 'salto', credentialId: key.id, actor: 'officer', state: 'suspended' })).rejects.toMatchObject({
      code: 'precondition',
      field: 'state',
      message: expect.stringContaining('lost, revoked'),
    });
    const out = await markCredentialLost(ctx, { system: 'salto', credentialId: key.id, actor: 'officer', note: 'left in a taxi' });
    expect(out.result.status).toBe('applied');
    const after = (await h.driver.getAccount(account.id))!.credentials.find((c) => c.id === key.id);
    expect(after === undefined || after.status !== 'active').toBe(true);
    expect(out.incident).toMatchObject({ kind: 'lost-credential', system: 'salto' });
  });
});
