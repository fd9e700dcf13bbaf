import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore, storeLockFile, StoreInUseError, type Db } from '../../../src/store/index.js';

const ROOT = resolve(import.meta.dirname, '../../..');

/** Starts the fixture holding the store at dir; resolves once it has it open. */
function holder(dir: string): Promise<ChildProcess & { pid: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures/hold-store.ts'), dir], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  return new Promise((ok, fail) => {
    let out = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('open ')) ok(child as ChildProcess & { pid: number });
    });
    child.once('exit', (code) => fail(new Error(`the holder exited (${code}) before opening the store`)));
  });
}

const exited = (c: ChildProcess) => new Promise<void>((ok) => (c.exitCode !== null || c.signalCode !== null ? ok() : c.once('exit', () => ok())));

async function refusal(p: Promise<Db>): Promise<StoreInUseError> {
  const e = await p.then(
    async (db) => {
      await db.close();
      return null;
    },
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(StoreInUseError);
  return e as StoreInUseError;
}

describe('the embedded store is locked to one process', { timeout: 60_000 }, () => {
  let base: string;
  let n = 0;
  const children: ChildProcess[] = [];
  const freshDir = () => join(base, `pglite-${++n}`);

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'lockstep-lock-'));
  });
  afterEach(async () => {
    for (const c of children.splice(0)) {
      c.kill('SIGKILL');
      await exited(c);
    }
  });
  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it('refuses a second process at once, naming the holder, its pid and its admin API', async () => {
    const dir = freshDir();
    const child = await holder(dir);
    children.push(child);
    const e = await refusal(openStore({ dataDir: dir }));
    expect(e.message).toContain(
      `is in use by lockstep serve (pid ${child.pid}); use its admin API at http://localhost:18080/api/v1 or set DATABASE_URL to share a PostgreSQL store`,
    );
    expect(e).toMatchObject({ code: 'precondition', retryable: false, holder: { pid: child.pid, command: 'lockstep serve' } });
    // and the holder's store is untouched by the attempt
    expect(JSON.parse(readFileSync(storeLockFile(dir), 'utf8')).pid).toBe(child.pid);
  });

  it('is free again once the holder closes the store', async () => {
    const dir = freshDir();
    const child = await holder(dir);
    child.stdin!.end();
    await exited(child);
    expect(child.exitCode).toBe(0);
    expect(existsSync(storeLockFile(dir))).toBe(false);
    const db = await openStore({ dataDir: dir });
    // the holder's table is there: it was one store, written by one process at a time
    expect((await db.query("SELECT to_regclass('held') IS NOT NULL AS there")).rows[0]).toEqual({ there: true });
    await db.close();
  });

  it('takes over the lock of a holder that was killed (its pid is gone)', async () => {
    const dir = freshDir();
    const child = await holder(dir);
    child.kill('SIGKILL');
    await exited(child);
    expect(existsSync(storeLockFile(dir))).toBe(true);
    const db = await openStore({ dataDir: dir });
    expect(JSON.parse(readFileSync(storeLockFile(dir), 'utf8')).pid).toBe(process.pid);
    await db.close();
    expect(existsSync(storeLockFile(dir))).toBe(false);
  });

  it('refuses a second open in the same process', async () => {
    const dir = freshDir();
    const db = await openStore({ dataDir: dir });
    try {
      const e = await refusal(openStore({ dataDir: dir }));
      expect(e.message).toMatch(/is already open in this process/);
    } finally {
      await db.close();
    }
  });

  it('leaves a lock from another host alone while its holder refreshes it, and takes it over when it stops', async () => {
    const dir = freshDir();
    const file = storeLockFile(dir);
    writeFileSync(
      file,
      JSON.stringify({
        pid: 1,
        hostname: 'elsewhere.example',
        processStart: null,
        command: 'lockstep worker',
        adminUrl: null,
        dataDir: dir,
        lockedAt: new Date().toISOString(),
      }),
    );
    const e = await refusal(openStore({ dataDir: dir }));
    expect(e.message).toContain('is in use by lockstep worker (pid 1 on elsewhere.example); stop it first');
    expect(e.message).toContain(`it is taken over once 60 s pass without its holder refreshing ${file}`);
    // its holder (a container recreated with a new hostname, say) stopped refreshing it two minutes ago
    const then = new Date(Date.now() - 120_000);
    utimesSync(file, then, then);
    const db = await openStore({ dataDir: dir });
    expect(JSON.parse(readFileSync(file, 'utf8')).pid).toBe(process.pid);
    await db.close();
  });

  it('takes over a lock whose pid now belongs to another process (a reused pid)', async () => {
    const dir = freshDir();
    // our parent is alive but started at another time than the record says
    const rec = {
      pid: process.ppid,
      hostname: (await import('node:os')).hostname(),
      processStart: '1',
      command: 'lockstep serve',
      adminUrl: null,
      dataDir: dir,
      lockedAt: new Date().toISOString(),
    };
    writeFileSync(storeLockFile(dir), JSON.stringify(rec));
    const db = await openStore({ dataDir: dir });
    await db.close();
  });
});
