import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startHostileApp, storeDigest, type HostileApp } from '../../helpers/hostile.js';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

/**
 * Issue 17, item 3: SCIM no longer acknowledges a person the lock systems would refuse. The
 * configured drivers declare their field limits (capabilities.limits); a User over one is a 400
 * invalidValue naming the attribute, the limit and the system, and nothing is stored. What is
 * accepted reaches the lock system whole.
 */
describe('SCIM refuses what a configured lock system would refuse', () => {
  let app: HostileApp;
  let before: string;
  const post = (u: Record<string, unknown>) => app.send('POST', '/scim/v2/Users', { body: JSON.stringify({ schemas: [USER], ...u }) });
  const refused = async (r: { status: number; json: any }, detail: RegExp) => {
    expect(r.status, JSON.stringify(r.json)).toBe(400);
    expect(r.json).toMatchObject({ scimType: 'invalidValue', status: '400' });
    expect(r.json.detail).toMatch(detail);
    expect(await storeDigest(app.engine.ctx.db)).toBe(before);
  };

  describe('with the simulator (displayName and externalId up to 500, email up to 1000)', () => {
    beforeAll(async () => {
      app = await startHostileApp();
    });
    afterAll(async () => {
      await app?.close();
    });
    beforeEach(async () => {
      before = await storeDigest(app.engine.ctx.db);
    });

    it('the simulator driver declares the limits its API enforces', () => {
      expect(app.engine.ctx.drivers.get('dc1')!.capabilities.limits).toEqual({ displayName: 500, externalId: 500, email: 1000 });
    });

    it('refuses a 600-character displayName with 400 naming displayName, 500 and the system', async () => {
      await refused(await post({ userName: 'long-name@example.com', displayName: 'N'.repeat(600) }), /^displayName is 600 characters long; lock system dc1 accepts at most 500$/);
    });

    it('refuses a 20,000-character externalId with 400 naming externalId, 500 and the system', async () => {
      await refused(await post({ userName: 'long-key@example.com', externalId: 'k'.repeat(20_000) }), /^externalId is 20000 characters long; lock system dc1 accepts at most 500$/);
    });

    it('names the attribute the display name came from when there is no displayName', async () => {
      await refused(await post({ userName: 'formatted@example.com', name: { formatted: 'F'.repeat(501) } }), /^name\.formatted is 501 characters long; lock system dc1 \(as the account's displayName\)/);
      await refused(await post({ userName: `${'u'.repeat(496)}@x.io` }), /^userName is 501 characters long; lock system dc1 \(as the account's displayName\) accepts at most 500$/);
      await refused(await post({ userName: 'mail@example.com', emails: [{ value: `${'m'.repeat(1000)}@example.com`, primary: true }] }), /^emails is 1012 characters long; lock system dc1 \(as the account's email\) accepts at most 1000$/);
    });

    it('refuses a PATCH or PUT that would make a stored user too long, and leaves the user as it was', async () => {
      const created = await post({ userName: 'patched@example.com', displayName: 'Patched' });
      expect(created.status).toBe(201);
      before = await storeDigest(app.engine.ctx.db);
      const id = created.json.id as string;
      await refused(
        await app.send('PATCH', `/scim/v2/Users/${id}`, { body: JSON.stringify({ schemas: [PATCH], Operations: [{ op: 'replace', value: { displayName: 'P'.repeat(501) } }] }) }),
        /^displayName is 501 characters long; lock system dc1 accepts at most 500$/,
      );
      await refused(await app.send('PUT', `/scim/v2/Users/${id}`, { body: JSON.stringify({ schemas: [USER], userName: 'patched@example.com', externalId: 'e'.repeat(501) }) }), /^externalId is 501 characters long/);
      expect((await app.send('GET', `/scim/v2/Users/${id}`)).json.displayName).toBe('Patched');
    });

    it('accepts a displayName of exactly the limit, and the account reaches the lock system with it whole', async () => {
      const name = `${'W'.repeat(480)} ${'Z'.repeat(19)}`;
      const created = await post({ userName: 'whole@example.com', externalId: 'whole-1', displayName: name });
      expect(created.status).toBe(201);
      const run = await app.send('POST', '/api/v1/runs', { body: JSON.stringify({ mode: 'apply', identities: [created.json.id] }) });
      expect(run.status, run.text).toBe(201);
      expect(run.json.run.status).toBe('applied');
      expect(app.engine.sim.state.findByExternalId('whole-1')?.displayName).toBe(name);
    });
  });

  describe('with a Gallagher Command Centre configured (names up to 50, cc_rest.yaml)', () => {
    beforeAll(async () => {
      app = await startHostileApp({ systemLimits: [{ system: 'cc', limits: { displayName: 50 } }] });
    });
    afterAll(async () => {
      await app?.close();
    });
    beforeEach(async () => {
      before = await storeDigest(app.engine.ctx.db);
    });

    it('refuses a 51-character displayName naming cc and 50', async () => {
      await refused(await post({ userName: 'cc@example.com', displayName: 'G'.repeat(51) }), /^displayName is 51 characters long; lock system cc accepts at most 50$/);
      expect((await post({ userName: 'cc@example.com', displayName: 'G'.repeat(50) })).status).toBe(201);
    });
  });

  describe('with no lock system limits', () => {
    beforeAll(async () => {
      app = await startHostileApp({ systemLimits: [] });
    });
    afterAll(async () => {
      await app?.close();
    });
    beforeEach(async () => {
      before = await storeDigest(app.engine.ctx.db);
    });

    it("still refuses keys over the store's own limit (512), which PostgreSQL could not index", async () => {
      await refused(await post({ userName: '界'.repeat(513) }), /^userName is 513 characters long; lockstep accepts at most 512$/);
      await refused(await post({ userName: 'ok@example.com', externalId: 'x'.repeat(20_000) }), /^externalId is 20000 characters long; lockstep accepts at most 512$/);
      expect((await post({ userName: 'ok@example.com', displayName: 'D'.repeat(5000) })).status).toBe(201);
    });
  });
});
