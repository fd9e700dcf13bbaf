import pino from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { startSimulator, type RunningSimulator, type SimProfile } from '../../connectors/simulator/index.js';
import { createConfiguredDriver } from '../../src/runtime/drivers.js';
import { parseMappings } from '../../src/policy/index.js';
import type { EngineContext } from '../../src/reconcile/index.js';
import { createTestStore, resetStore, type StoreKind, type TestStore } from './db.js';
import type { IdentityInput } from '../../src/domain/identity.js';
import { upsertIdentity } from '../../src/store/index.js';

export interface TestEngine {
  ctx: EngineContext;
  store: TestStore;
  sim: RunningSimulator;
  /** Moves the engine's clock. */
  setNow(d: Date | string): void;
  close(): Promise<void>;
}

/**
 * A real engine for integration tests: a fresh store (PostgreSQL or PGlite), a real simulator
 * over HTTP on loopback whose groups are the mappings' access groups, and the policy parsed
 * from `mappingsYaml` (its systems must be called `dc1`).
 */
export async function createTestEngine(
  kind: StoreKind,
  mappingsYaml: string,
  opts: {
    now?: string;
    maxAttempts?: number;
    /** reuse (and empty) this store instead of making one; close() then keeps it */ store?: TestStore;
    /** the kind of lock system the simulator plays */ profile?: Partial<SimProfile>;
  } = {},
): Promise<TestEngine> {
  const { policy } = parseMappings(mappingsYaml, 'test-mappings.yaml');
  const groups = [...policy.accessGroups.values()].filter((g) => g.system === 'dc1').map((g) => ({ id: g.ref, name: g.name, doors: [`${g.ref}-door`] }));
  const sim = await startSimulator({ groups, ...(opts.profile ? { profile: opts.profile } : {}) });
  const store = opts.store ?? (await createTestStore(kind));
  if (opts.store) await resetStore(store.db);
  const driver = await createConfiguredDriver('simulator', { system: 'dc1', options: { url: sim.url, timeoutMs: 2000, maxAttempts: 1 } });
  let now = new Date(opts.now ?? '2026-06-01T08:00:00Z');
  const ctx: EngineContext = {
    db: store.db,
    policy,
    drivers: new Map([['dc1', driver]]),
    logger: pino({ level: 'silent' }),
    now: () => now,
    executor: { maxAttempts: opts.maxAttempts ?? 2, baseDelayMs: 5, maxDelayMs: 20, concurrency: 4 },
  };
  return {
    ctx,
    store,
    sim,
    setNow: (d) => {
      now = new Date(d);
    },
    close: async () => {
      await driver.close?.();
      await sim.close();
      if (!opts.store) await store.drop();
    },
  };
}

/** The simulator's memberships of the account with this key: group → {from, until}. */
export function membershipsOf(sim: RunningSimulator, externalId: string): Record<string, { from: string | null; until: string | null }> {
  const a = sim.state.findByExternalId(externalId);
  if (!a) return {};
  return Object.fromEntries(a.memberships.map((m) => [m.group, { from: m.from, until: m.until }]));
}

/**
 * A fresh engine for every test of a describe block, on one store made for the block (emptied
 * between tests): `useTestEngine(kind, MAPPINGS, {}, (x) => (e = x))`.
 */
export function useTestEngine(
  kind: StoreKind,
  mappingsYaml: string,
  opts: Omit<Parameters<typeof createTestEngine>[2] & object, 'store'>,
  set: (e: TestEngine) => void,
): void {
  let store: TestStore;
  let e: TestEngine | null = null;
  beforeAll(async () => {
    store = await createTestStore(kind);
  });
  afterAll(async () => {
    await store.drop();
  });
  beforeEach(async () => {
    e = await createTestEngine(kind, mappingsYaml, { ...opts, store });
    set(e);
  });
  afterEach(async () => {
    await e?.close();
  });
}

/** An HR employee with a key of its own, as the reconcile tests make them. */
export function hrPerson(e: TestEngine, externalId: string, extra: Partial<IdentityInput> = {}) {
  return upsertIdentity(e.ctx.db, {
    source: 'hr',
    externalId,
    userName: `${externalId.toLowerCase()}@example.com`,
    displayName: `Person ${externalId}`,
    employeeType: 'Employee',
    ...extra,
  });
}
