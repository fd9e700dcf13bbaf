import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import pg from 'pg';
import { openStore } from '../../../src/store/index.js';
import { PG_ADMIN_URL, type TestStore } from '../../helpers/db.js';
import type { Db } from '../../../src/store/db.js';
import { upsertIdentity } from '../../../src/store/identities.js';
import type { ReconcileResult } from '../../../src/queue/index.js';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A key prefix of its own per test file, so files run side by side on one Redis. */
export function uniquePrefix(tag: string): string {
  return `lstest-${tag}-${randomBytes(4).toString('hex')}`;
}

/** Deletes every key under the prefix (tests clean up after themselves). */
export async function deleteKeys(prefix: string, url = REDIS_URL): Promise<number> {
  const r = new Redis(url, { maxRetriesPerRequest: 1 });
  let n = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) n += await r.del(...keys);
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
  return n;
}

/** Polls until fn returns a truthy value; fails with `what` after timeoutMs. */
export async function waitFor<T>(fn: () => Promise<T> | T, what: string, timeoutMs = 15_000, intervalMs = 25): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await sleep(intervalMs);
  }
}

/** n identities in the store (source `hr`), returned in id order. */
export async function seedIdentities(db: Db, n: number, attrs: (i: number) => Record<string, unknown> = () => ({})): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const { identity } = await upsertIdentity(db, { source: 'hr', externalId: `E${String(i).padStart(5, '0')}`, userName: `user${i}@example.com`, ...attrs(i) });
    ids.push(identity.id);
  }
  return ids.sort();
}

export function emptyOutcome(over: Partial<ReconcileResult> = {}): ReconcileResult {
  return { run: { id: randomUUID() }, results: [], held: false, failedRevocations: [], failed: [], nextCheckAt: null, ...over };
}

/** A gate a fake handler waits on until the test opens it. */
export function gate(): { wait: Promise<void>; open(): void } {
  let open!: () => void;
  const wait = new Promise<void>((res) => (open = res));
  return { wait, open };
}

/**
 * A fresh PostgreSQL database like createTestStore's, with synchronous_commit off: queue tests
 * write thousands of small transactions, and waiting for an fsync on each would make them
 * slow without testing anything more (durability across a PostgreSQL crash is not under test).
 */
export async function createQueueTestStore(): Promise<TestStore> {
  const name = `lockstep_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.query(`ALTER DATABASE ${name} SET synchronous_commit = off`);
  await admin.end();
  const url = PG_ADMIN_URL.replace(/\/[^/]*$/, `/${name}`);
  const db = await openStore({ databaseUrl: url, poolSize: 8 });
  return {
    db,
    kind: 'postgres',
    url,
    drop: async () => {
      await db.close().catch(() => undefined);
      const a = new pg.Client({ connectionString: PG_ADMIN_URL });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.end();
    },
  };
}
