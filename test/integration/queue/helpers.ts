import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { createTestStore, type TestStore } from '../../helpers/db.js';
import type { Db } from '../../../src/store/db.js';
import { upsertIdentity } from '../../../src/store/identities.js';
import type { ReconcileOutcome as ReconcileResult } from '../../../src/queue/index.js';

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
      if (v) return v;
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
    const { identity } = await upsertIdentity(db, {
      source: 'hr',
      externalId: `E${String(i).padStart(5, '0')}`,
      userName: `user${i}@example.com`,
      ...attrs(i),
    });
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

/** A fresh PostgreSQL database with synchronous_commit off: queue tests write thousands of small transactions. */
export function createQueueTestStore(): Promise<TestStore> {
  return createTestStore('postgres', { fastCommit: true, poolSize: 8 });
}
