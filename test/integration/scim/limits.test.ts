import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { iterateAudit } from '../../../src/store/audit.js';
import { startHostileApp, storeDigest, type HostileApp } from '../../helpers/hostile.js';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

/**
 * Issue 21, item 3: a value SCIM allows but a lock system cannot hold never refuses the identity
 * change (a deactivation with an over-long displayName kept its leaver's doors open). SCIM
 * stores what it is given; the value is fitted at the driver boundary for that system only
 * (src/drivers/fit.ts), and the plan, the audit log and explain say how. Only the store's own
 * key limit (512, what PostgreSQL can index) is refused at the edge, with nothing stored.
 */
describe('SCIM accepts what a lock system cannot hold, and the lock system gets it fitted', () => {
  let app: HostileApp;
  const post = (u: Record<string, unknown>) => app.send('POST', '/scim/v2/Users', { body: JSON.stringify({ schemas: [USER], ...u }) });
  const apply = async (id: string) => {
    const run = await app.send('POST', '/api/v1/runs', { body: JSON.stringify({ mode: 'apply', identities: [id] }) });
    expect(run.status, run.text).toBe(201);
    return run.json.run as { status: string; plan: { operations: Array<{ kind: string; fitted?: string[]; account?: { displayName: string } }> } };
  };
  const sim = () => app.engine.sim.state;

  beforeAll(async () => {
    app = await startHostileApp();
  });
  afterAll(async () => {
    await app?.close();
  });

  it('the simulator driver declares the limits its API enforces', () => {
    expect(app.engine.ctx.drivers.get('dc1')!.capabilities.limits).toEqual({ displayName: 500, externalId: 500, email: 1000 });
  });

  it('stores a 600-character displayName, and the account reaches dc1 with it cut to 500, said in the plan and the audit log', async () => {
    const name = `${'N'.repeat(550)} ${'Z'.repeat(49)}`;
    const created = await post({ userName: 'long-name@example.com', externalId: 'long-name-1', displayName: name });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    expect(created.json.displayName).toBe(name);
    const run = await apply(created.json.id);
    expect(run.status).toBe('applied');
    const create = run.plan.operations.find((o) => o.kind === 'create_account')!;
    expect(create.account!.displayName).toHaveLength(500);
    expect(create.fitted).toEqual(["displayName: 600 characters cut to the system's 500"]);
    expect(sim().findByExternalId('long-name-1')?.displayName).toBe(name.slice(0, 500));
    const entries = [];
    for await (const e of iterateAudit(app.engine.ctx.db, { subject: created.json.id })) entries.push(e);
    expect(entries.find((e) => e.action === 'create_account')?.data).toMatchObject({ fitted: ["displayName: 600 characters cut to the system's 500"] });
    // converged: the fitted name is what lockstep wants there, so the next run has nothing to do
    const again = await app.send('POST', '/api/v1/runs', { body: JSON.stringify({ mode: 'apply', identities: [created.json.id] }) });
    expect(again.status, again.text).toBe(201);
    expect(again.json.run?.plan.operations ?? []).toEqual([]);
    const explain = await app.send('GET', `/api/v1/identities/${created.json.id}/explain`);
    expect(explain.json.systems[0].fitted).toEqual(["displayName: 600 characters cut to the system's 500"]);
  });

  it('deactivates a leaver whose PATCH also sets a 600-character displayName: every door goes', async () => {
    const created = await post({ userName: 'leaver@example.com', externalId: 'leaver-1', displayName: 'Leaving Soon', groups: [] });
    expect(created.status).toBe(201);
    await apply(created.json.id);
    expect(sim().findByExternalId('leaver-1')?.memberships.length).toBeGreaterThan(0);
    const r = await app.send('PATCH', `/scim/v2/Users/${created.json.id}`, {
      body: JSON.stringify({ schemas: [PATCH], Operations: [{ op: 'replace', value: { active: false, displayName: 'L'.repeat(600) } }] }),
    });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json.active).toBe(false);
    const run = await apply(created.json.id);
    expect(run.status).toBe('applied');
    const account = sim().findByExternalId('leaver-1')!;
    expect(account.state).toBe('suspended');
  });

  it('gives an empty or blank displayName the userName, and says so', async () => {
    for (const [i, displayName] of ['', '   ', '\u0007\u0008'].entries()) {
      const created = await post({ userName: `blank${i}@example.com`, externalId: `blank-${i}`, displayName });
      expect(created.status, JSON.stringify(created.json)).toBe(201);
      const run = await apply(created.json.id);
      expect(run.status).toBe('applied');
      expect(sim().findByExternalId(`blank-${i}`)?.displayName).toBe(`blank${i}@example.com`);
      expect(run.plan.operations.find((o) => o.kind === 'create_account')?.fitted).toEqual(['displayName: empty at source, userName used']);
    }
  });

  it('stores an externalId dc1 cannot hold: only dc1 fails, with its reason, and nothing else is refused', async () => {
    const key = `k-${'x'.repeat(505)}`;
    const created = await post({ userName: 'long-key@example.com', externalId: key });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    const run = await apply(created.json.id);
    expect(run.status).not.toBe('applied');
    expect(JSON.stringify(run)).toMatch(/externalId/);
    expect(sim().findByExternalId(key)).toBeFalsy();
  });

  describe("the store's own key limit (512), which PostgreSQL could not index", () => {
    let before: string;
    beforeEach(async () => {
      before = await storeDigest(app.engine.ctx.db);
    });
    const refused = async (r: { status: number; json: any }, detail: RegExp) => {
      expect(r.status, JSON.stringify(r.json)).toBe(400);
      expect(r.json).toMatchObject({ scimType: 'invalidValue', status: '400' });
      expect(r.json.detail).toMatch(detail);
      expect(await storeDigest(app.engine.ctx.db)).toBe(before);
    };

    it('is still refused, naming the attribute, with nothing stored', async () => {
      await refused(await post({ userName: '界'.repeat(513) }), /^userName is 513 characters long; lockstep accepts at most 512$/);
      await refused(
        await post({ userName: 'ok@example.com', externalId: 'x'.repeat(20_000) }),
        /^externalId is 20000 characters long; lockstep accepts at most 512$/,
      );
      expect((await post({ userName: 'ok@example.com', displayName: 'D'.repeat(5000) })).status).toBe(201);
    });
  });
});
