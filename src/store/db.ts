import pg from 'pg';
import { PGlite } from '@electric-sql/pglite';
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { LockstepError } from '../domain/errors.js';
import { acquireStoreLock, StoreInUseError, type StoreLock } from './lock.js';
import { SessionGate, SHARE_PORT, startStoreShare, type StoreShare } from './share.js';

/** Anything that runs SQL: the database itself or a transaction on it. */
export interface Queryable {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: T[]; rowCount: number }>;
  /**
   * Inside a transaction: runs fn with the database once the transaction has committed (never
   * when it rolls back). Absent on the database itself.
   */
  afterCommit?(fn: (db: Db) => void): void;
}

/** One interface over PostgreSQL (pg) and the embedded PGlite: same SQL, same migrations. */
export interface Db extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  /** Runs fn in one transaction; commits when it resolves, rolls back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Runs several statements at once (migrations). */
  exec(sql: string): Promise<void>;
  /** Work started in the background (audit sealing); close() waits for it to settle. */
  track(p: Promise<unknown>): void;
  /**
   * The embedded store only: serve it to the CLI over a local socket (share.ts) and record where
   * in its lock file; close() stops it. Null for an in-memory store.
   */
  share?(): Promise<StoreShare | null>;
  close(): Promise<void>;
}

/** The transaction has committed: what runs now must not turn it into a failure. */
function runAfterCommit(fns: ((db: Db) => void)[], db: Db) {
  for (const f of fns) {
    try {
      f(db);
    } catch {
      // hooks only start background work; its own failure handling applies
    }
  }
}

/** Background work of one database, awaited on close. */
class Tracker {
  private readonly inflight = new Set<Promise<unknown>>();
  track(p: Promise<unknown>) {
    const q = p.catch(() => undefined).finally(() => this.inflight.delete(q));
    this.inflight.add(q);
  }
  async drain() {
    while (this.inflight.size > 0) await Promise.all([...this.inflight]);
  }
}

/**
 * Statements with parameters run as named prepared statements, so PostgreSQL parses and plans
 * each distinct text once per connection instead of on every call (pg keeps the per-connection
 * record). Texts built with a variable number of placeholders would each take a slot: after
 * MAX_PREPARED distinct texts the rest run unnamed.
 */
const MAX_PREPARED = 500;
const preparedNames = new Map<string, string>();
let preparing = true;
function prepared(sql: string, params: unknown[]): string | pg.QueryConfig {
  if (!preparing || params.length === 0 || sql.length > 8000) return sql;
  let name = preparedNames.get(sql);
  if (name === undefined) {
    if (preparedNames.size >= MAX_PREPARED) return sql;
    name = 'ls_' + createHash('sha1').update(sql).digest('hex').slice(0, 24);
    preparedNames.set(sql, name);
  }
  return { name, text: sql, values: params };
}

/**
 * A migration run by another process (a rolling upgrade) can change a table under a statement
 * this one prepared; PostgreSQL then refuses it. From then on this process runs everything
 * unnamed, and the statement is tried again unnamed where that is safe (outside a transaction).
 */
function staleStatement(e: unknown): boolean {
  const err = e as { code?: unknown; message?: unknown };
  if (err.code !== '0A000' || typeof err.message !== 'string' || !err.message.includes('cached plan must not change result type')) return false;
  preparing = false;
  return true;
}

// pg returns int8 as string; lockstep's bigints (audit seq) fit in a double.
pg.types.setTypeParser(20, (v) => Number(v));

class PgDb implements Db {
  private readonly tracker = new Tracker();
  constructor(
    private readonly pool: pg.Pool,
    /** 'pglite': serve's embedded store, reached through its shared socket (share.ts). */
    readonly kind: 'postgres' | 'pglite' = 'postgres',
  ) {}

  /** Named prepared statements live in the session: on a shared PGlite session they would outlive this client. */
  private prepared(sql: string, params: unknown[]): string | pg.QueryConfig {
    return this.kind === 'pglite' ? sql : prepared(sql, params);
  }

  async query<T>(sql: string, params: unknown[] = []) {
    const q = this.prepared(sql, params);
    let r: pg.QueryResult;
    try {
      r = typeof q === 'string' ? await this.pool.query(sql, params) : await this.pool.query(q);
    } catch (e) {
      if (typeof q === 'string' || !staleStatement(e)) throw e;
      r = await this.pool.query(sql, params);
    }
    return { rows: r.rows as T[], rowCount: r.rowCount ?? 0 };
  }

  track(p: Promise<unknown>) {
    this.tracker.track(p);
  }

  async exec(sql: string) {
    await this.pool.query(sql);
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    let released = false;
    const client = await this.pool.connect();
    const after: ((db: Db) => void)[] = [];
    try {
      await client.query('BEGIN');
      const tx: Queryable = {
        query: async <R>(sql: string, params: unknown[] = []) => {
          const q = this.prepared(sql, params);
          try {
            const r = typeof q === 'string' ? await client.query(sql, params) : await client.query(q);
            return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
          } catch (e) {
            // the transaction is aborted either way; later ones run unnamed
            if (typeof q !== 'string') staleStatement(e);
            throw e;
          }
        },
        afterCommit: (f) => void after.push(f),
      };
      const out = await fn(tx);
      await client.query('COMMIT');
      client.release();
      released = true;
      runAfterCommit(after, this);
      return out;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      if (!released) client.release();
    }
  }

  async close() {
    await this.tracker.drain();
    await this.pool.end();
  }
}

class PgliteDb implements Db {
  readonly kind = 'pglite' as const;
  private readonly tracker = new Tracker();
  /**
   * PGlite's one session, in turns: each statement and each transaction of this process takes
   * the gate, and so does each turn of a CLI command on the shared socket (share.ts), so that
   * neither runs inside the other's transaction.
   */
  private readonly gate = new SessionGate();
  private shared: StoreShare | null = null;
  constructor(
    private readonly pg: PGlite,
    private readonly lock: StoreLock | null,
    private readonly dataDir: string | null,
  ) {}

  track(p: Promise<unknown>) {
    this.tracker.track(p);
  }

  async query<T>(sql: string, params: unknown[] = []) {
    const r = await this.gate.run(() => this.pg.query<T>(sql, params));
    return { rows: r.rows, rowCount: r.affectedRows ?? r.rows.length };
  }

  async exec(sql: string) {
    await this.gate.run(() => this.pg.exec(sql));
  }

  async share(): Promise<StoreShare | null> {
    if (this.shared || !this.dataDir || !this.lock) return this.shared;
    this.shared = await startStoreShare({ pg: this.pg, gate: this.gate, dataDir: this.dataDir });
    this.lock.share(this.shared.socketDir);
    return this.shared;
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    const after: ((db: Db) => void)[] = [];
    const out = await this.gate.run(() =>
      this.pg.transaction(async (t) =>
        fn({
          query: async <R>(sql: string, params: unknown[] = []) => {
            const r = await t.query<R>(sql, params);
            return { rows: r.rows, rowCount: r.affectedRows ?? r.rows.length };
          },
          afterCommit: (f) => void after.push(f),
        }),
      ),
    );
    runAfterCommit(after, this);
    return out;
  }

  async close() {
    // no CLI command is let in any more; one in the middle of a transaction is rolled back
    if (this.shared) {
      this.lock?.share(null);
      await this.shared.close();
    }
    await this.tracker.drain();
    try {
      await this.pg.close();
    } finally {
      this.lock?.release();
    }
  }
}

/** Readiness: the store answers a query (or this throws why it does not). */
export async function pingStore(q: Queryable): Promise<void> {
  await q.query('SELECT 1');
}

export interface OpenDbOptions {
  /** PostgreSQL connection string; when absent, PGlite is used. */
  databaseUrl?: string;
  /** PGlite data directory; `memory://` for an in-memory database. A directory is locked for this process (see lock.ts). */
  dataDir?: string;
  poolSize?: number;
  /**
   * When the PGlite directory is held by a process that shares it (serve, see share.ts), use
   * that store through its socket instead of being refused. For one-shot commands (the CLI):
   * a long-running process must not depend on another one's lifetime.
   */
  joinShared?: boolean;
}

/** Connects to the store a live holder shares (its lock names the socket); refused as before when it cannot. */
async function joinSharedStore(refused: StoreInUseError): Promise<Db> {
  const h = refused.holder;
  if (!h?.share || h.hostname !== hostname()) throw refused;
  const pool = new pg.Pool({ host: h.share, port: SHARE_PORT, user: 'postgres', database: 'postgres', max: 1 });
  pool.on('error', () => undefined);
  try {
    await pool.query('SELECT 1');
  } catch (e) {
    await pool.end().catch(() => undefined);
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'EACCES' ? `permission denied: run lockstep as the user ${h.command} runs as` : (err.code ?? err.message);
    throw new StoreInUseError(refused.dataDir, refused.lockFile, h, why);
  }
  return new PgDb(pool, 'pglite');
}

export async function openDb(opts: OpenDbOptions): Promise<Db> {
  if (opts.databaseUrl) {
    const pool = new pg.Pool({ connectionString: opts.databaseUrl, max: opts.poolSize ?? 10 });
    // An idle client losing its server must not crash the process; the next query reconnects.
    pool.on('error', () => undefined);
    try {
      await pool.query('SELECT 1');
    } catch (e) {
      await pool.end().catch(() => undefined);
      throw new LockstepError('unavailable', `cannot reach PostgreSQL at DATABASE_URL: ${(e as Error).message}`, { cause: e });
    }
    return new PgDb(pool);
  }
  const dir = opts.dataDir ?? './data/pglite';
  if (dir.startsWith('memory://')) return new PgliteDb(await PGlite.create(dir), null, null);
  mkdirSync(dir, { recursive: true });
  // before PGlite touches the directory: a second process opening it corrupts it
  let lock: StoreLock;
  try {
    lock = acquireStoreLock(dir);
  } catch (e) {
    if (opts.joinShared && e instanceof StoreInUseError) return joinSharedStore(e);
    throw e;
  }
  try {
    return new PgliteDb(await PGlite.create(dir), lock, resolve(dir));
  } catch (e) {
    lock.release();
    throw e;
  }
}
