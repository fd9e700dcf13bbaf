import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LockstepError } from '../../../src/domain/errors.js';
import { openStore, type Db } from '../../../src/store/index.js';

/** The PostgreSQL server the benches create their databases on (trust auth, user postgres). */
export const PG_ADMIN_URL = process.env.BENCH_PG_ADMIN_URL ?? process.env.TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export type StoreKind = 'postgres' | 'pglite';

export interface BenchStore {
  db: Db;
  kind: StoreKind;
  /** Connection string of the bench's own database (postgres only). */
  url?: string;
  drop(): Promise<void>;
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL });
  try {
    await c.connect();
  } catch (e) {
    throw new LockstepError('unavailable', `cannot reach PostgreSQL at ${PG_ADMIN_URL} (set BENCH_PG_ADMIN_URL): ${(e as Error).message}`, { cause: e });
  }
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => undefined);
  }
}

function databaseUrl(name: string): string {
  const u = new URL(PG_ADMIN_URL);
  u.pathname = `/${name}`;
  return u.toString();
}

/** A new, migrated database `lockstep_bench_<random>` (dropped by drop()), or an in-memory PGlite. */
export async function createBenchStore(kind: StoreKind, opts: { poolSize?: number } = {}): Promise<BenchStore> {
  if (kind === 'pglite') {
    const db = await openStore({ dataDir: 'memory://' });
    return { db, kind, drop: () => db.close() };
  }
  const name = `lockstep_bench_${randomBytes(5).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = databaseUrl(name);
  let db: Db;
  try {
    db = await openStore({ databaseUrl: url, poolSize: opts.poolSize ?? 10 });
  } catch (e) {
    await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    throw e;
  }
  let dropped = false;
  return {
    db,
    kind,
    url,
    drop: async () => {
      if (dropped) return;
      dropped = true;
      await db.close().catch(() => undefined);
      await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}

/**
 * Where a bench's phases (each its own process, so each has its own peak RSS) find the
 * store: a PostgreSQL database, or a PGlite data directory on disk (an in-memory PGlite
 * cannot be shared between processes; on disk is also how `npm start` runs it).
 */
export type StoreSpec = { kind: 'postgres'; url: string } | { kind: 'pglite'; dir: string };

export async function createStoreSpec(kind: StoreKind): Promise<{ spec: StoreSpec; drop(): Promise<void> }> {
  if (kind === 'pglite') {
    const dir = await mkdtemp(join(tmpdir(), 'lockstep-bench-pglite-'));
    const db = await openStore({ dataDir: dir });
    await db.close();
    return { spec: { kind, dir }, drop: () => rm(dir, { recursive: true, force: true }) };
  }
  const made = await createEmptyDatabase();
  const db = await openStore({ databaseUrl: made.url, poolSize: 2 });
  await db.close();
  // BENCH_KEEP_STORE=1: the database stays after the run, for a look at its queries (EXPLAIN ANALYZE)
  if (process.env.BENCH_KEEP_STORE === '1') {
    process.stderr.write(`bench store kept: ${made.url}\n`);
    return { spec: { kind, url: made.url }, drop: async () => undefined };
  }
  return { spec: { kind, url: made.url }, drop: made.drop };
}

export function openStoreSpec(spec: StoreSpec, poolSize = 10): Promise<Db> {
  return spec.kind === 'postgres' ? openStore({ databaseUrl: spec.url, poolSize }) : openStore({ dataDir: spec.dir });
}

/** A database for a service the bench starts (serve reads DATABASE_URL itself): created empty, dropped after. */
export async function createEmptyDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `lockstep_bench_${randomBytes(5).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = databaseUrl(name);
  return { url, drop: () => admin(async (c) => void (await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))) };
}
