/**
 * `lockstep serve` on the embedded store (PGlite, no DATABASE_URL) and CLI commands beside it,
 * each a process of its own: the CLI is refused at once (exit 7) and sent to serve's admin
 * API, instead of opening the PGlite directory a second time (its writes were invisible to
 * serve, or PGlite aborted).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const ADMIN_TOKEN = 'admin-token-lock-0123456789abcdef';

describe('the CLI beside a running serve on the embedded store', { timeout: 180_000 }, () => {
  let dir: string;
  let serve: ChildProcess | null = null;
  let adminUrl: string;
  const prefix = `lockstep-test-${randomBytes(4).toString('hex')}`;
  const env = () => {
    const e: NodeJS.ProcessEnv = { ...process.env, LOCKSTEP_DATA_DIR: join(dir, 'data'), LOG_LEVEL: 'error', NO_COLOR: '1', REDIS_URL: 'redis://127.0.0.1:6379', LOCKSTEP_NO_LOCAL_REDIS: '1', ADMIN_TOKEN, PORT: '0', HOST: '127.0.0.1' };
    delete e.DATABASE_URL;
    return e;
  };
  const cli = async (...args: string[]) => {
    const t0 = Date.now();
    try {
      const r = await run(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli.ts'), '--config', join(dir, 'lockstep.yaml'), ...args], { cwd: ROOT, env: env(), timeout: 60_000 });
      return { code: 0, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - t0 };
    } catch (e) {
      const x = e as { code: number; stdout: string; stderr: string };
      return { code: x.code, stdout: x.stdout, stderr: x.stderr, ms: Date.now() - t0 };
    }
  };
  const startServe = () =>
    new Promise<{ child: ChildProcess; url: string }>((ok, fail) => {
      const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli.ts'), '--config', join(dir, 'lockstep.yaml'), 'serve'], { cwd: ROOT, env: env(), stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr!.on('data', (b: Buffer) => {
        err += b.toString();
        const m = /admin API\s+(http:\/\/\S+\/api\/v1)/.exec(err);
        if (m) ok({ child, url: m[1]! });
      });
      child.once('exit', (code) => fail(new Error(`serve exited (${code}) before it was running:\n${err}`)));
    });
  const exited = (c: ChildProcess) => new Promise<void>((ok) => (c.exitCode !== null || c.signalCode !== null ? ok() : c.once('exit', () => ok())));
  const lockFile = () => join(dir, 'data', 'pglite.lock');

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lockstep-store-lock-'));
    await copyFile(join(ROOT, 'mappings/examples/datacenter.yaml'), join(dir, 'datacenter.yaml'));
    await copyFile(join(ROOT, 'mappings/examples/hr.csv'), join(dir, 'hr.csv'));
    await writeFile(
      join(dir, 'lockstep.yaml'),
      `mappings: [./datacenter.yaml]
systems:
  dc1: { type: simulator, embedded: { port: 0, stateFile: ./sim.json } }
sources:
  hr: { type: file, path: ./hr.csv, columns: { employeeId: externalId } }
queue: { prefix: ${prefix} }
`,
    );
    ({ child: serve, url: adminUrl } = await startServe());
  });

  afterAll(async () => {
    if (serve) {
      serve.kill('SIGKILL');
      await exited(serve);
    }
    const redis = new Redis('redis://127.0.0.1:6379');
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
    await redis.quit();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses plan --json at once with exit 7, naming serve, its pid and its admin API', async () => {
    // serve rewrote its lock with the address it listens on
    await expect.poll(async () => JSON.parse(await readFile(lockFile(), 'utf8')).adminUrl, { timeout: 10_000 }).toBe(adminUrl);
    const p = await cli('plan', '--json');
    expect(p.code).toBe(7);
    expect(p.stdout).toBe('');
    expect(p.stderr).toContain(
      `error: the embedded store ${join(dir, 'data', 'pglite')} is in use by lockstep serve (pid ${serve!.pid}); use its admin API at ${adminUrl} or set DATABASE_URL to share a PostgreSQL store`,
    );
    const v = await cli('audit', 'verify');
    expect(v.code).toBe(7);
    expect(v.stderr).toContain('is in use by lockstep serve');
  });

  it('leaves serve and its store working: a plan through its admin API is a run it can show', async () => {
    const headers = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
    const res = await fetch(`${adminUrl}/runs`, { method: 'POST', headers, body: JSON.stringify({ mode: 'plan' }) });
    expect(res.status).toBe(201);
    const { runId } = (await res.json()) as { runId: string };
    const got = await fetch(`${adminUrl}/runs/${runId}`, { headers });
    expect(got.status).toBe(200);
    expect(((await got.json()) as { id: string }).id).toBe(runId);
  });

  it('frees the store when serve stops, and takes over the lock of a serve that was killed', async () => {
    serve!.kill('SIGTERM');
    await exited(serve!);
    expect(existsSync(lockFile())).toBe(false);
    expect((await cli('audit', 'verify')).code).toBe(0);

    ({ child: serve, url: adminUrl } = await startServe());
    serve.kill('SIGKILL');
    await exited(serve);
    serve = null;
    expect(existsSync(lockFile())).toBe(true);
    const v = await cli('audit', 'verify');
    expect(v.stderr).toBe('');
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/audit log intact: \d+ entries/);
    expect(existsSync(lockFile())).toBe(false);
  });
});
