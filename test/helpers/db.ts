import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { openStore, sealAudit, type Db } from '../../src/store/index.js';
import { forgetIdentities } from '../../src/reconcile/identity-cache.js';

/** The PostgreSQL server tests use (trust auth, as on the dev machines and CI). */
export const PG_ADMIN_URL = process.env.TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export type StoreKind = 'postgres' | 'pglite';
export const storeKinds: StoreKind[] = ['postgres', 'pglite'];

export interface TestStore {
  db: Db;
  kind: StoreKind;
  /** Connection string of the fresh PostgreSQL database (postgres kind only). */
  url?: string;
  drop(): Promise<void>;
}

export interface TestStoreOptions {
  /**
   * PostgreSQL only: synchronous_commit off. For suites that write thousands of small
   * transactions, where waiting for an fsync on each tests nothing more (durability across a
   * PostgreSQL crash is not under test).
   */
  fastCommit?: boolean;
  poolSize?: number;
}

/** A fresh, migrated store: a new PostgreSQL database, or an in-memory PGlite. Dropped by drop(). */
export async function createTestStore(kind: StoreKind, opts: TestStoreOptions = {}): Promise<TestStore> {
  if (kind === 'pglite') {
    const db = await openStore({ dataDir: 'memory://' });
    return { db, kind, drop: () => db.close() };
  }
  const name = `lockstep_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  if (opts.fastCommit) await admin.query(`ALTER DATABASE ${name} SET synchronous_commit = off`);
  await admin.end();
  const url = PG_ADMIN_URL.replace(/\/[^/]*$/, `/${name}`);
  const db = await openStore({ databaseUrl: url, poolSize: opts.poolSize ?? 5 });
  return {
    db,
    kind,
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

/** Empties every table (and resets the audit chain) so one database can serve many tests. */
export async function resetStore(db: Db): Promise<void> {
  // the identities a full run read before are gone (a store emptied under a running process is a test's doing)
  forgetIdentities(db);
  // a sealing pass still running from the last test would chain into the reset log
  await sealAudit(db);
  const { rows } = await db.query<{ tablename: string }>(
    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT IN ('schema_migrations', 'audit_head')",
  );
  if (rows.length) await db.exec(`TRUNCATE ${rows.map((r) => `"${r.tablename}"`).join(', ')} CASCADE`);
  await db.query(`UPDATE audit_head SET seq = 0, hash = '${'0'.repeat(64)}' WHERE id = 1`);
}
