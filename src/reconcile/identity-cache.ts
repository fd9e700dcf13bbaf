import type { Identity } from '../domain/identity.js';
import type { Db } from '../store/db.js';
import { getIdentities, identitiesInRange } from '../store/identities.js';
import type { IdentityStamp } from '../store/links.js';

/**
 * The identities a process read last, per store, by id: a full run lists every identity's stored
 * version (store/links.ts loadIdentityStamps) and reads again only those whose version moved.
 * Every write to an identity bumps its version and its updatedAt (test/unit/store/identity-writes.test.ts
 * holds the store to it), so an identity at the version and instant it was read at is the one
 * the store holds. Read-only: the objects handed out are shared between runs, and nothing
 * changes them.
 */

/** Identities remembered per store; past it the cache starts over (a bigger estate still works, read in full). */
const IDENTITY_CACHE_MAX = 250_000;

interface Cached {
  identity: Identity;
  version: number;
  updatedAtMs: number;
}

const caches = new WeakMap<Db, Map<string, Cached>>();

/** How many identities the last pages took from the cache and how many were read (benchmarks and tests). */
export const identityCacheStats = { reused: 0, read: 0 };

/**
 * The identities of a page of stamps (the page after `afterId`), in id order: each from the
 * cache when its stored version is the one read before, the rest read in one statement (the
 * whole page's range when most of it is unknown; then an identity written since the stamps were
 * read is in it too). An identity the store no longer has is left out.
 */
export async function identitiesOf(db: Db, stamps: readonly IdentityStamp[], afterId: string | null): Promise<Identity[]> {
  let cache = caches.get(db);
  if (cache === undefined) caches.set(db, (cache = new Map<string, Cached>()));
  const out = new Array<Identity | undefined>(stamps.length);
  const missing: string[] = [];
  for (let i = 0; i < stamps.length; i++) {
    const s = stamps[i];
    const c = cache.get(s.id);
    if (c !== undefined && c.version === s.version && c.updatedAtMs === s.updatedAtMs) out[i] = c.identity;
    else missing.push(s.id);
  }
  identityCacheStats.reused += stamps.length - missing.length;
  identityCacheStats.read += missing.length;
  if (missing.length === 0) return out as Identity[];
  if (cache.size + missing.length > IDENTITY_CACHE_MAX) cache.clear();
  // most of the page unknown (the process's first run): the page's range read whole, as a range scan
  const whole = missing.length * 2 > stamps.length;
  const read = whole ? await identitiesInRange(db, afterId, stamps[stamps.length - 1].id) : await getIdentities(db, missing);
  // both in id order (uuids compare as their lowercase text does): each read identity's stamp, if it has one
  let j = 0;
  for (const identity of read) {
    while (j < stamps.length && stamps[j].id < identity.id) j++;
    const stamp = j < stamps.length && stamps[j].id === identity.id ? stamps[j] : undefined;
    // the stamp's instant when the version is the one stamped (no second parse of it)
    const updatedAtMs = stamp !== undefined && stamp.version === identity.version ? stamp.updatedAtMs : Date.parse(identity.updatedAt);
    cache.set(identity.id, { identity, version: identity.version, updatedAtMs });
    if (!whole && stamp !== undefined) out[j] = identity;
  }
  if (whole) return read;
  return out.filter((i): i is Identity => i !== undefined);
}

/** Forgets what was read of this store (tests). */
export function forgetIdentities(db: Db): void {
  caches.delete(db);
}
