/**
 * The embedded store shared on a local socket (src/store/share.ts): a pg client takes turns with
 * the holder's own statements, a transaction at a time, and leaves nothing behind when it goes.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { PGlite } from '@electric-sql/pglite';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SessionGate, startStoreShare, type StoreShare } from '../../../src/store/share.js';
import { openStore, storeLockFile, type Db } from '../../../src/store/index.js';
import { readFileSync } from 'node:fs';
import { connect as connectSocket } from 'node:net';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A frontend message: type, length, body. */
function msg(type: string, ...parts: (string | number[])[]): Buffer {
  const body = Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(`${p}\0`) : Buffer.from(p))));
  const head = Buffer.alloc(5);
  head.write(type, 0);
  head.writeInt32BE(4 + body.length, 1);
  return Buffer.concat([head, body]);
}
function startup(): Buffer {
  const body = Buffer.from('user\0postgres\0database\0postgres\0\0');
  const head = Buffer.alloc(8);
  head.writeInt32BE(8 + body.length, 0);
  head.writeInt32BE(196608, 4);
  return Buffer.concat([head, body]);
}

describe('the embedded store shared on a local socket', { timeout: 60_000 }, () => {
  let base: string;
  let db: PGlite;
  let gate: SessionGate;
  let share: StoreShare;
  const pools: pg.Pool[] = [];
  const connect = () => {
    const p = new pg.Pool({ host: share.socketDir, port: 5432, user: 'postgres', database: 'postgres', max: 1 });
    p.on('error', () => undefined);
    pools.push(p);
    return p;
  };
  const local = <T>(sql: string) => gate.run(() => db.query<T>(sql));

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'lockstep-share-'));
    db = await PGlite.create(join(base, 'pglite'));
    await db.exec('CREATE TABLE t (id int PRIMARY KEY, who text)');
    gate = new SessionGate();
    share = await startStoreShare({ pg: db, gate, dataDir: join(base, 'pglite'), idleInTransactionMs: 500 });
  });
  afterEach(async () => {
    for (const p of pools.splice(0)) await p.end().catch(() => undefined);
    await local('DELETE FROM t');
  });
  afterAll(async () => {
    await share.close();
    await db.close();
    await rm(base, { recursive: true, force: true });
  });

  it('is reachable by its user only: a 0700 directory holding a 0600 socket', async () => {
    expect(share.socketDir).toBe(join(base, 'pglite.socket'));
    expect((await stat(share.socketDir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(share.socketDir, '.s.PGSQL.5432'))).mode & 0o777).toBe(0o600);
  });

  it("never runs the holder's statements inside a client's transaction: they wait for its end", async () => {
    const c = await connect().connect();
    await c.query('BEGIN');
    await c.query("INSERT INTO t VALUES (1, 'client')");
    let ran = false;
    const mine = local("INSERT INTO t VALUES (2, 'holder')").then(() => (ran = true));
    await sleep(150);
    expect(ran).toBe(false);
    await c.query('ROLLBACK');
    c.release();
    await mine;
    // the client's rollback took only its own row
    expect((await local<{ id: number }>('SELECT id FROM t ORDER BY id')).rows).toEqual([{ id: 2 }]);
  });

  it("never runs a client's statements inside the holder's transaction", async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const tx = gate.run(() =>
      db.transaction(async (t) => {
        await t.query("INSERT INTO t VALUES (3, 'holder')");
        await held;
        await t.query('ROLLBACK');
      }),
    );
    await sleep(50);
    const pool = connect();
    let answered = false;
    const q = pool.query("INSERT INTO t VALUES (4, 'client')").then(() => (answered = true));
    await sleep(150);
    expect(answered).toBe(false);
    release();
    await tx;
    await q;
    expect((await local<{ id: number }>('SELECT id FROM t ORDER BY id')).rows).toEqual([{ id: 4 }]);
  });

  it('rolls back the transaction of a client that went away, and lets the holder go on', async () => {
    const c = await connect().connect();
    await c.query('BEGIN');
    await c.query("INSERT INTO t VALUES (5, 'gone')");
    c.release(true); // the connection is destroyed mid-transaction (a killed CLI)
    expect((await local<{ n: number }>('SELECT count(*)::int AS n FROM t')).rows).toEqual([{ n: 0 }]);
    expect(db.isInTransaction()).toBe(false);
  });

  it('does not commit an extended-protocol batch whose client died before its Sync', async () => {
    const sock = connectSocket(join(share.socketDir, '.s.PGSQL.5432'));
    let got = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => (got = Buffer.concat([got, d])));
    sock.write(startup());
    await expect.poll(() => got.includes(Buffer.from('Z\0\0\0\x05I'))).toBe(true);
    got = Buffer.alloc(0);
    // Parse, Bind, Execute of an INSERT, and no Sync: the process is killed here
    sock.write(Buffer.concat([msg('P', '', "INSERT INTO t VALUES (7, 'half')", [0, 0]), msg('B', '', '', [0, 0, 0, 0, 0, 0]), msg('E', '', [0, 0, 0, 0])]));
    await expect.poll(() => got.includes(Buffer.from('INSERT 0 1'))).toBe(true);
    sock.destroy();
    expect((await local<{ n: number }>('SELECT count(*)::int AS n FROM t')).rows).toEqual([{ n: 0 }]);
    expect(db.isInTransaction()).toBe(false);
  });

  it('disconnects a client that sits in a transaction, so the holder is not kept waiting', async () => {
    const c = await connect().connect();
    c.on('error', () => undefined);
    await c.query('BEGIN');
    await c.query("INSERT INTO t VALUES (6, 'idle')");
    const t0 = Date.now();
    expect((await local<{ n: number }>('SELECT count(*)::int AS n FROM t')).rows).toEqual([{ n: 0 }]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(400);
    await expect(c.query('COMMIT')).rejects.toThrow();
    c.release(true);
  });

  it('leaves no prepared statement behind for the next client', async () => {
    const a = connect();
    await a.query({ name: 'same', text: 'SELECT $1::int AS n', values: [1] });
    await a.end();
    pools.splice(pools.indexOf(a), 1);
    await sleep(50);
    const b = connect();
    expect((await b.query({ name: 'same', text: 'SELECT $1::int AS n', values: [2] })).rows).toEqual([{ n: 2 }]);
  });
});

describe('a store opened with joinShared', { timeout: 60_000 }, () => {
  let base: string;
  let holder: Db;
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'lockstep-share-join-'));
    holder = await openStore({ dataDir: join(base, 'pglite') });
    await holder.share!();
  });
  afterAll(async () => {
    await holder.close();
    await rm(base, { recursive: true, force: true });
  });

  it("uses the store its holder shares, and its writes are the holder's", async () => {
    const dir = join(base, 'pglite');
    expect(JSON.parse(readFileSync(storeLockFile(dir), 'utf8')).share).toBe(join(base, 'pglite.socket'));
    const cli = await openStore({ dataDir: dir, joinShared: true });
    try {
      expect(cli.kind).toBe('pglite');
      await cli.transaction(async (tx) => {
        await tx.query('CREATE TABLE IF NOT EXISTS joined (n int)');
        await tx.query('INSERT INTO joined VALUES ($1)', [7]);
      });
    } finally {
      await cli.close();
    }
    expect((await holder.query('SELECT n FROM joined')).rows).toEqual([{ n: 7 }]);
  });

  it('stops sharing when the holder closes: its lock no longer names a socket', async () => {
    const other = await openStore({ dataDir: join(base, 'other') });
    await other.share!();
    await other.close();
    // closed and unlocked: the next opener has the directory to itself
    const again = await openStore({ dataDir: join(base, 'other') });
    expect(JSON.parse(readFileSync(storeLockFile(join(base, 'other')), 'utf8')).share).toBeNull();
    await again.close();
  });
});
