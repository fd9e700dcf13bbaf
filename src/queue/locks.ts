import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * Per-identity leases in Redis. BullMQ's deduplication already keeps one identity job per
 * identity; leases extend that to the buckets of a full run, so an identity job and a bucket
 * never reconcile the same person at once. A lease has a TTL and is renewed while held, so a
 * worker killed mid-run frees its identities within one TTL.
 */

// Takes every free key in one round trip; returns the indexes of the ones taken.
const ACQUIRE = `
local taken = {}
for i, k in ipairs(KEYS) do
  if redis.call('SET', k, ARGV[1], 'NX', 'PX', ARGV[2]) then taken[#taken + 1] = i end
end
return taken`;

const RENEW = `
local n = 0
for _, k in ipairs(KEYS) do
  if redis.call('GET', k) == ARGV[1] then redis.call('PEXPIRE', k, ARGV[2]); n = n + 1 end
end
return n`;

const RELEASE = `
local n = 0
for _, k in ipairs(KEYS) do
  if redis.call('GET', k) == ARGV[1] then redis.call('DEL', k); n = n + 1 end
end
return n`;

export interface Lease {
  /** The names that this lease holds. */
  held: string[];
  /** The names someone else holds. */
  busy: string[];
  release(): Promise<void>;
}

// Redis scripts are limited by the Lua stack for unpack; keep key batches moderate.
const BATCH = 1000;

export class LeaseManager {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlMs: number,
  ) {}

  private key(kind: string, name: string): string {
    return `${this.prefix}:lease:${kind}:${name}`;
  }

  /** Takes the leases that are free; renews them every ttl/3 until release(). */
  async acquire(kind: string, names: string[]): Promise<Lease> {
    const token = randomUUID();
    const held: string[] = [];
    const busy: string[] = [];
    for (let i = 0; i < names.length; i += BATCH) {
      const slice = names.slice(i, i + BATCH);
      const taken = (await this.redis.eval(ACQUIRE, slice.length, ...slice.map((n) => this.key(kind, n)), token, String(this.ttlMs))) as number[];
      const got = new Set(taken.map((t) => t - 1));
      slice.forEach((n, j) => (got.has(j) ? held : busy).push(n));
    }
    const keys = held.map((n) => this.key(kind, n));
    const run = async (script: string) => {
      for (let i = 0; i < keys.length; i += BATCH) {
        const slice = keys.slice(i, i + BATCH);
        await this.redis.eval(script, slice.length, ...slice, token, String(this.ttlMs));
      }
    };
    const timer = keys.length
      ? setInterval(
          () => {
            void run(RENEW).catch(() => undefined);
          },
          Math.max(50, Math.floor(this.ttlMs / 3)),
        )
      : null;
    timer?.unref();
    let released = false;
    return {
      held,
      busy,
      release: async () => {
        if (released) return;
        released = true;
        if (timer) clearInterval(timer);
        // A release lost to a Redis blip is harmless: the lease expires after its TTL.
        await run(RELEASE).catch(() => undefined);
      },
    };
  }
}
