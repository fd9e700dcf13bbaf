import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LockstepError } from '../../src/domain/errors.js';
import { describeConformance } from '../../src/drivers/conformance.js';
import { createSimulatorDriver, SimulatorDriver, startSimulator, type RunningSimulator, type SwipeResult } from './index.js';

const GROUPS = [
  { id: 'lobby', name: 'Lobby', doors: ['lobby-main'] },
  { id: 'dc1-white', name: 'DC1 white space', doors: ['dc1-hall-a', 'dc1-hall-b'] },
  { id: 'dc1-cage-a', name: 'Cage A', doors: ['dc1-cage-a'] },
];

/** Test drivers back off in tens of milliseconds so fault tests stay fast. */
function driverFor(sim: RunningSimulator, opts: { apiKey?: string; timeoutMs?: number; maxAttempts?: number; pageSize?: number } = {}): SimulatorDriver {
  return new SimulatorDriver('sim', { url: sim.url, ...opts }, { backoffBaseMs: 10, backoffMaxMs: 50 });
}

async function api(sim: RunningSimulator, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${sim.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

async function swipe(sim: RunningSimulator, body: Record<string, string>): Promise<SwipeResult> {
  const res = await api(sim, 'POST', '/api/swipe', body);
  expect(res.status).toBe(200);
  return (await res.json()) as SwipeResult;
}

describeConformance('simulator', async () => {
  const sim = await startSimulator({ groups: GROUPS });
  return {
    driver: driverFor(sim, { maxAttempts: 3, pageSize: 60 }),
    groups: ['lobby', 'dc1-white'],
    addCredential: async (accountId) => sim.state.issueCredential(accountId, { type: 'card' }).id,
    recordAccess: async (accountId, credentialId) => {
      sim.state.recordEvent({ accountId, credentialId, door: 'lobby-main', granted: true });
    },
    seedAccounts: async (count) => {
      const tag = randomUUID().slice(0, 8);
      for (let i = 0; i < count; i++) sim.state.createAccount({ externalId: `seed-${tag}-${i}`, displayName: `Seed ${i}` });
    },
    failNext: async (status, opts = {}) => {
      const res = await api(sim, 'POST', '/api/_faults', { status, times: opts.times ?? 1, retryAfterSeconds: opts.retryAfterSeconds ?? null });
      expect(res.status).toBe(200);
    },
    teardown: () => sim.close(),
  };
});

// The kit against the profiles that can do less: each declared capability is checked, and what is not declared is skipped.
for (const [label, profile] of [
  ['offline keys, 3 days', { offline: { revalidationDays: 3 } }],
  ['no stored validity, no suspension', { validity: 'none' as const, suspendAccount: false }],
  ['validity on the account', { validity: 'account' as const }],
] as const) {
  describeConformance(`simulator (${label})`, async () => {
    const sim = await startSimulator({ groups: GROUPS, profile });
    const driver = driverFor(sim, { maxAttempts: 3, pageSize: 60 });
    await driver.discover();
    return {
      driver,
      groups: ['lobby', 'dc1-white'],
      addCredential: async (accountId) => sim.state.issueCredential(accountId, { type: 'card' }).id,
      recordAccess: async (accountId, credentialId) => {
        sim.state.recordEvent({ accountId, credentialId, door: 'lobby-main', granted: true });
      },
      seedAccounts: async (count) => {
        const tag = randomUUID().slice(0, 8);
        for (let i = 0; i < count; i++) sim.state.createAccount({ externalId: `seed-${tag}-${i}`, displayName: `Seed ${i}` });
      },
      failNext: async (status, opts = {}) => {
        const res = await api(sim, 'POST', '/api/_faults', { status, times: opts.times ?? 1, retryAfterSeconds: opts.retryAfterSeconds ?? null });
        expect(res.status).toBe(200);
      },
      teardown: () => sim.close(),
    };
  });
}

describe('simulator swipe decisions', () => {
  let sim: RunningSimulator;
  let driver: SimulatorDriver;
  beforeAll(async () => {
    sim = await startSimulator({ groups: GROUPS });
    driver = driverFor(sim);
  });
  afterAll(async () => {
    await driver.close();
    await sim.close();
  });

  async function holder(): Promise<{ accountId: string; credentialId: string; number: string }> {
    const a = await driver.upsertAccount({ externalId: `swipe-${randomUUID()}`, displayName: 'Swiper' });
    const res = await api(sim, 'POST', `/api/accounts/${a.id}/credentials`, { type: 'card' });
    expect(res.status).toBe(201);
    const c = (await res.json()) as { id: string; number: string };
    return { accountId: a.id, credentialId: c.id, number: c.number };
  }
  const hour = 3_600_000;
  const iso = (offsetMs: number): string => new Date(Date.now() + offsetMs).toISOString();

  it('grants a valid membership at a door of the group, records the event and stamps lastUsedAt', async () => {
    const { accountId, credentialId, number } = await holder();
    await driver.grant(accountId, 'dc1-white', { from: iso(-hour), until: iso(hour) });
    const cursor = (await driver.readAccessEvents(null)).cursor;
    const r = await swipe(sim, { number, door: 'dc1-hall-b' });
    expect(r).toMatchObject({ granted: true, reason: 'granted' });
    expect(r.event).toMatchObject({ accountId, credentialId, door: 'dc1-hall-b', group: 'dc1-white', granted: true });
    const cred = (await driver.getAccount(accountId))?.credentials.find((c) => c.id === credentialId);
    expect(cred?.lastUsedAt).toBe(r.event.at);
    const events = await driver.readAccessEvents(cursor);
    expect(events.events).toContainEqual(expect.objectContaining({ id: r.event.id, accountId, credentialId, granted: true }));
  });

  it('denies an expired membership and leaves lastUsedAt alone', async () => {
    const { accountId, credentialId } = await holder();
    await driver.grant(accountId, 'lobby', { from: iso(-2 * hour), until: iso(-hour) });
    const r = await swipe(sim, { credentialId, door: 'lobby-main' });
    expect(r).toMatchObject({ granted: false, reason: 'membership_expired' });
    expect(r.event.granted).toBe(false);
    expect((await driver.getAccount(accountId))?.credentials[0].lastUsedAt).toBeNull();
  });

  it('denies a membership that has not started yet', async () => {
    const { accountId, credentialId } = await holder();
    await driver.grant(accountId, 'lobby', { from: iso(hour), until: null });
    expect(await swipe(sim, { credentialId, group: 'lobby' })).toMatchObject({ granted: false, reason: 'membership_not_yet_valid' });
  });

  it('denies suspended and lost cards even with a valid membership', async () => {
    const { accountId, credentialId } = await holder();
    await driver.grant(accountId, 'lobby', { from: null, until: null });
    await driver.setCredentialState(accountId, credentialId, 'suspended');
    expect(await swipe(sim, { credentialId, door: 'lobby-main' })).toMatchObject({ granted: false, reason: 'credential_suspended' });
    await driver.setCredentialState(accountId, credentialId, 'lost');
    expect(await swipe(sim, { credentialId, door: 'lobby-main' })).toMatchObject({ granted: false, reason: 'credential_lost' });
    await driver.setCredentialState(accountId, credentialId, 'active');
    expect(await swipe(sim, { credentialId, door: 'lobby-main' })).toMatchObject({ granted: true });
  });

  it('denies a suspended account and a door its groups do not open', async () => {
    const { accountId, credentialId } = await holder();
    await driver.grant(accountId, 'lobby', { from: null, until: null });
    expect(await swipe(sim, { credentialId, door: 'dc1-cage-a' })).toMatchObject({ granted: false, reason: 'no_membership' });
    expect(await swipe(sim, { credentialId, door: 'nowhere' })).toMatchObject({ granted: false, reason: 'unknown_door' });
    await driver.setAccountState(accountId, 'suspended');
    expect(await swipe(sim, { credentialId, door: 'lobby-main' })).toMatchObject({ granted: false, reason: 'account_suspended' });
  });

  it('denies an account outside its own validity', async () => {
    const { accountId, credentialId } = await holder();
    await driver.grant(accountId, 'lobby', { from: null, until: null });
    const res = await api(sim, 'PATCH', `/api/accounts/${accountId}`, { validity: { until: iso(-hour) } });
    expect(res.status).toBe(200);
    expect(await swipe(sim, { credentialId, door: 'lobby-main' })).toMatchObject({ granted: false, reason: 'account_expired' });
  });

  it('records an unknown card as a denied event without an account', async () => {
    const r = await swipe(sim, { number: 'no-such-card', door: 'lobby-main' });
    expect(r).toMatchObject({ granted: false, reason: 'unknown_credential' });
    expect(r.event).toMatchObject({ accountId: null, number: 'no-such-card' });
  });

  it('logs grants and revocations with the instant they were applied', async () => {
    const { accountId } = await holder();
    const start = (await (await api(sim, 'GET', '/api/changes?limit=5000')).json()) as { next: string };
    await driver.grant(accountId, 'lobby', { from: null, until: null });
    await driver.grant(accountId, 'lobby', { from: null, until: null });
    await driver.revoke(accountId, 'lobby');
    const res = (await (await api(sim, 'GET', `/api/changes?after=${start.next}`)).json()) as {
      items: { kind: string; accountId: string; group?: string; at: string }[];
    };
    const mine = res.items.filter((c) => c.accountId === accountId).map((c) => c.kind);
    expect(mine).toEqual(['membership.granted', 'membership.revoked']);
    expect(res.items.every((c) => !Number.isNaN(Date.parse(c.at)))).toBe(true);
  });
});

describe('simulator HTTP API', () => {
  let sim: RunningSimulator;
  beforeAll(async () => {
    sim = await startSimulator({ groups: GROUPS });
  });
  afterAll(() => sim.close());

  it('rejects an account without displayName, naming the field', async () => {
    const res = await api(sim, 'POST', '/api/accounts', { externalId: 'x-1' });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'validation', field: 'displayName' });
  });

  it('refuses a second account with the same externalId', async () => {
    const body = { externalId: `dup-${randomUUID()}`, displayName: 'Dup' };
    expect((await api(sim, 'POST', '/api/accounts', body)).status).toBe(201);
    expect((await api(sim, 'POST', '/api/accounts', body)).status).toBe(409);
  });

  it('takes a bare until date as the end of that day and rejects from after until', async () => {
    const a = sim.state.createAccount({ displayName: 'Dates' });
    const ok = await api(sim, 'PUT', `/api/accounts/${a.id}/memberships/lobby`, { from: '2030-01-01', until: '2030-01-31' });
    expect(ok.status).toBe(201);
    expect(await ok.json()).toMatchObject({ from: '2030-01-01T00:00:00.000Z', until: '2030-01-31T23:59:59.999Z' });
    const bad = await api(sim, 'PUT', `/api/accounts/${a.id}/memberships/lobby`, { from: '2030-02-01', until: '2030-01-01' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ field: 'validity.from' });
  });

  it('answers 404 for a membership in a group it does not know', async () => {
    const a = sim.state.createAccount({ displayName: 'Nogroup' });
    expect((await api(sim, 'PUT', `/api/accounts/${a.id}/memberships/mars-base`, {})).status).toBe(404);
  });

  it('defines groups with PUT and exports the whole state', async () => {
    expect((await api(sim, 'PUT', '/api/groups/roof', { name: 'Roof', doors: ['roof-hatch'] })).status).toBe(201);
    expect((await api(sim, 'PUT', '/api/groups/roof', { name: 'Roof access', doors: ['roof-hatch'] })).status).toBe(200);
    const exp = (await (await api(sim, 'GET', '/api/export')).json()) as { groups: { id: string; name: string }[]; accounts: unknown[] };
    expect(exp.groups).toContainEqual(expect.objectContaining({ id: 'roof', name: 'Roof access' }));
    expect(exp.accounts.length).toBe(sim.state.accountCount);
  });

  it('pages 100 000 accounts by cursor and finds any by externalId', async () => {
    const big = await startSimulator({ groups: GROUPS });
    try {
      for (let i = 0; i < 100_000; i++) big.state.createAccount({ externalId: `bulk-${i}`, displayName: `Bulk ${i}` });
      const driver = driverFor(big);
      expect((await driver.findAccount('bulk-99999'))?.displayName).toBe('Bulk 99999');
      // Jump near the end with a cursor taken from the 99 000th account: one page, not a scan.
      const res = (await (await api(big, 'GET', '/api/accounts?after=99000&limit=1000')).json()) as {
        items: { externalId: string }[];
        next: string | null;
      };
      expect(res.items).toHaveLength(1000);
      expect(res.items[0].externalId).toBe('bulk-99000');
      expect(res.next).toBeNull();
      await driver.close();
    } finally {
      await big.close();
    }
  });
});

describe('simulator fault injection', () => {
  let sim: RunningSimulator;
  beforeAll(async () => {
    sim = await startSimulator({ groups: GROUPS });
  });
  afterEach(async () => {
    expect((await api(sim, 'DELETE', '/api/_faults')).status).toBe(204);
  });
  afterAll(() => sim.close());

  it('answers 503 to everything but _faults during an outage, until cleared', async () => {
    await api(sim, 'POST', '/api/_faults', { outage: true, retryAfterSeconds: 7 });
    const health = await api(sim, 'GET', '/api/health');
    expect(health.status).toBe(503);
    expect(health.headers.get('retry-after')).toBe('7');
    const faults = await api(sim, 'GET', '/api/_faults');
    expect(faults.status).toBe(200);
    expect(await faults.json()).toMatchObject({ outage: true });
    await api(sim, 'DELETE', '/api/_faults');
    expect((await api(sim, 'GET', '/api/health')).status).toBe(200);
  });

  it('fails exactly the next `times` requests with the given status and Retry-After', async () => {
    await api(sim, 'POST', '/api/_faults', { status: 429, times: 2, retryAfterSeconds: 3 });
    const first = await api(sim, 'GET', '/api/groups');
    expect(first.status).toBe(429);
    expect(first.headers.get('retry-after')).toBe('3');
    expect((await api(sim, 'GET', '/api/groups')).status).toBe(429);
    expect((await api(sim, 'GET', '/api/groups')).status).toBe(200);
  });

  it('lets the driver retry through a 503 on a create without creating twice', async () => {
    const driver = driverFor(sim);
    const externalId = `retry-${randomUUID()}`;
    // The first request is the lookup, the second the POST; fail both once.
    await api(sim, 'POST', '/api/_faults', { status: 503, times: 2 });
    const a = await driver.upsertAccount({ externalId, displayName: 'Retried' });
    expect(a.externalId).toBe(externalId);
    expect(sim.state.findByExternalId(externalId)?.id).toBe(a.id);
    await driver.close();
  });

  it('surfaces a persistent error rate as unavailable after the configured attempts', async () => {
    const driver = driverFor(sim, { maxAttempts: 2 });
    await api(sim, 'POST', '/api/_faults', { errorRate: 1, status: 500 });
    await expect(driver.listAccessGroups()).rejects.toMatchObject({ code: 'unavailable', status: 500 });
    await driver.close();
  });

  it('surfaces latency beyond the driver timeout as timeout', async () => {
    const driver = driverFor(sim, { timeoutMs: 100, maxAttempts: 1 });
    await api(sim, 'POST', '/api/_faults', { latencyMs: 400 });
    await expect(driver.getAccount('acc-1')).rejects.toMatchObject({ code: 'timeout' });
    await driver.close();
  });

  it('rejects unknown fault fields', async () => {
    const res = await api(sim, 'POST', '/api/_faults', { outage: true, explode: 1 });
    expect(res.status).toBe(400);
    expect((await api(sim, 'GET', '/api/health')).status).toBe(200);
  });
});

describe('simulator API key', () => {
  let sim: RunningSimulator;
  const apiKey = 'sim-secret-key';
  beforeAll(async () => {
    sim = await startSimulator({ groups: GROUPS, apiKey });
  });
  afterAll(() => sim.close());

  it('refuses requests without the key as auth, without echoing it', async () => {
    const wrong = driverFor(sim, { apiKey: 'not-the-key' });
    const err = await wrong.listAccessGroups().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockstepError);
    expect((err as LockstepError).code).toBe('auth');
    expect(JSON.stringify({ m: (err as LockstepError).message, d: (err as LockstepError).details })).not.toContain('not-the-key');
    expect((await api(sim, 'GET', '/api/_faults')).status).toBe(401);
    await wrong.close();
  });

  it('accepts the key as a bearer token or X-Api-Key, and serves health without it', async () => {
    const driver = driverFor(sim, { apiKey });
    expect((await driver.listAccessGroups()).map((g) => g.ref)).toContain('lobby');
    expect((await api(sim, 'GET', '/api/groups', undefined, { 'x-api-key': apiKey })).status).toBe(200);
    expect((await api(sim, 'GET', '/api/health')).status).toBe(200);
    await driver.close();
  });
});

describe('simulator state file', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lockstep-sim-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('persists accounts, memberships, credentials and events, and reloads them', async () => {
    const stateFile = join(dir, 'nested', 'state.json');
    const first = await startSimulator({ stateFile, groups: GROUPS });
    const d1 = driverFor(first);
    const a = await d1.upsertAccount({ externalId: 'persist-1', displayName: 'Persisted' });
    await d1.grant(a.id, 'lobby', { from: '2024-01-01T00:00:00.000Z', until: '2099-12-31T00:00:00.000Z' });
    const cred = first.state.issueCredential(a.id, { number: '4242' });
    const swiped = await swipe(first, { number: '4242', door: 'lobby-main' });
    expect(swiped.granted).toBe(true);
    await d1.close();
    await first.close();

    expect((await readdir(join(dir, 'nested'))).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    const second = await startSimulator({ stateFile });
    try {
      const d2 = driverFor(second);
      const back = await d2.findAccount('persist-1');
      expect(back).toMatchObject({
        id: a.id,
        displayName: 'Persisted',
        memberships: [{ group: 'lobby', from: '2024-01-01T00:00:00.000Z', until: '2099-12-31T00:00:00.000Z' }],
      });
      expect(back?.credentials[0]).toMatchObject({ id: cred.id, number: '4242', lastUsedAt: swiped.event.at });
      expect((await d2.listAccessGroups()).map((g) => g.ref).sort()).toEqual(GROUPS.map((g) => g.id).sort());
      // Ids and cursors continue after a reload: nothing is reused.
      const b = await d2.upsertAccount({ externalId: 'persist-2', displayName: 'After reload' });
      expect(b.id).not.toBe(a.id);
      const events = await d2.readAccessEvents(null);
      expect(events.events.map((e) => e.id)).toEqual([swiped.event.id]);
      const next = await swipe(second, { number: '4242', door: 'lobby-main' });
      expect(Number(next.event.seq)).toBeGreaterThan(Number(swiped.event.seq));
      await d2.close();
    } finally {
      await second.close();
    }
  });

  it('writes changes on its own after the debounce, without a close', async () => {
    const stateFile = join(dir, 'state.json');
    const sim = await startSimulator({ stateFile, groups: GROUPS, persistDebounceMs: 5 });
    try {
      sim.state.createAccount({ externalId: 'debounced', displayName: 'Debounced' });
      let text = '';
      for (let i = 0; i < 200 && !text.includes('debounced'); i++) {
        await new Promise((r) => setTimeout(r, 10));
        text = await readFile(stateFile, 'utf8').catch(() => '');
      }
      expect(JSON.parse(text)).toMatchObject({ format: 'lockstep-simulator', accounts: [expect.objectContaining({ externalId: 'debounced' })] });
    } finally {
      await sim.close();
    }
  });

  it('refuses to start on a corrupt state file, naming it', async () => {
    const stateFile = join(dir, 'bad.json');
    await writeFile(stateFile, '{"format":"lockstep-simulator","version":1,"counters":{}}');
    const err = await startSimulator({ stateFile }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockstepError);
    expect((err as LockstepError).code).toBe('config');
    expect((err as LockstepError).message).toContain(stateFile);
  });
});

describe('simulator driver options', () => {
  it('names the missing or bad field', () => {
    const fieldOf = (options: Record<string, unknown>): string | undefined => {
      try {
        createSimulatorDriver({ system: 'lab', options });
        return undefined;
      } catch (e) {
        expect(e).toBeInstanceOf(LockstepError);
        expect((e as LockstepError).code).toBe('config');
        return (e as LockstepError).field;
      }
    };
    expect(fieldOf({})).toBe('systems.lab.url');
    expect(fieldOf({ url: 'ftp://example.com' })).toBe('systems.lab.url');
    expect(fieldOf({ url: 'http://127.0.0.1:1', maxAttempts: 0 })).toBe('systems.lab.maxAttempts');
    expect(fieldOf({ url: 'http://127.0.0.1:1', timeoutMs: 'soon' })).toBe('systems.lab.timeoutMs');
  });

  it('accepts numbers given as strings, as ${ENV} substitution yields them', () => {
    const d = createSimulatorDriver({ system: 'lab', options: { url: 'http://127.0.0.1:1', timeoutMs: '5000', maxAttempts: '2' } });
    expect(d.capabilities).toMatchObject({ validity: 'membership', accessEvents: 'cursor', deleteAccount: true });
  });
});
