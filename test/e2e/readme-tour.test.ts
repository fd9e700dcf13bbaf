import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, REDIS_URL } from '../helpers/serve.js';

/**
 * The README's quick start and tour, as printed: `npm start` in a copy of the repository's
 * example (lockstep.yaml, mappings/, the embedded store and simulator under ./data), then every
 * ```sh tour block of README.md, in order, in one bash, beside it. Only what the README leaves
 * to the reader is set: the tokens `npm start` would print (ADMIN_TOKEN, APPROVER_TOKEN,
 * SCIM_TOKEN) and LOCKSTEP_URL; and, so that the test shares this machine with a real
 * `npm start`, the ports and Redis prefix lockstep.yaml reads from the environment.
 */
const ROOT = resolve(import.meta.dirname, '../..');
const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const missing = ['bash', 'curl', 'jq', 'npm', 'sed'].filter((c) => !has(c));
if (missing.length) console.warn(`README tour test skipped: ${missing.join(', ')} not on the PATH`);

/** The README's tour: every fenced block tagged `sh tour`, in order. */
export function tourBlocks(readme: string): string[] {
  return [...readme.matchAll(/^```sh tour\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
}

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

describe.skipIf(missing.length > 0)('the README quick start and tour', () => {
  let dir = '';
  let service: ChildProcess | null = null;
  let stderr = '';
  const prefix = `lockstep-tour-${randomBytes(4).toString('hex')}`;
  const tokens = {
    ADMIN_TOKEN: `admin-${randomBytes(12).toString('hex')}`,
    APPROVER_TOKEN: `approver-${randomBytes(12).toString('hex')}`,
    SCIM_TOKEN: `scim-${randomBytes(12).toString('hex')}`,
  };
  let env: NodeJS.ProcessEnv = {};
  let url = '';

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lockstep-tour-'));
    // the checkout as a new user has it: the installed packages and sources, and the example files the tour edits
    for (const f of ['package.json', 'node_modules', 'src', 'connectors', 'ui', 'dist', 'tsconfig.json']) await symlink(join(ROOT, f), join(dir, f));
    await cp(join(ROOT, 'lockstep.yaml'), join(dir, 'lockstep.yaml'));
    await cp(join(ROOT, 'mappings'), join(dir, 'mappings'), { recursive: true });
    const port = await freePort();
    url = `http://localhost:${port}`;
    const { DATABASE_URL: _db, LOCKSTEP_CONFIG: _cfg, LOCKSTEP_DATA_DIR: _data, ...rest } = process.env;
    env = {
      ...rest,
      ...tokens,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOCKSTEP_SIMULATOR_PORT: String(await freePort()),
      LOCKSTEP_QUEUE_PREFIX: prefix,
      REDIS_URL,
      LOCKSTEP_NO_LOCAL_REDIS: '1',
      LOG_LEVEL: 'warn',
      USER: 'tour',
      NO_COLOR: '1',
    };
    // `npm start`, exactly; in a process group of its own, so that closing it stops npm's children
    service = spawn('npm', ['start'], { cwd: dir, env, detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    service.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    await eventually(() => stderr.includes('lockstep is running.') || service!.exitCode !== null, 'npm start to be running', 60_000);
    if (!stderr.includes('lockstep is running.')) throw new Error(`npm start ended: ${stderr}`);
    // the start-up run applied and the first review campaign open: what the tour's first block looks at
    const get = async (path: string) =>
      (await fetch(`${url}/api/v1${path}`, { headers: { authorization: `Bearer ${tokens.ADMIN_TOKEN}` } })).json() as Promise<any>;
    await eventually(
      async () => (await get('/runs')).runs?.some((r: { trigger: string; status: string }) => r.trigger === 'full:startup' && r.status === 'applied'),
      'the start-up run to be applied',
      60_000,
    );
    await eventually(async () => (await get('/reviews?status=open')).campaigns?.length > 0, 'the first review campaign', 30_000);
  }, 120_000);

  afterAll(async () => {
    if (service?.pid && service.exitCode === null) {
      const exited = new Promise((r) => service!.once('exit', r));
      process.kill(-service.pid, 'SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (service.exitCode === null && service.signalCode === null) process.kill(-service.pid, 'SIGKILL');
    }
    const redis = new Redis(REDIS_URL);
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
    await redis.quit();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('printed the tokens a new user needs when none were configured, and how to use them', async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    // the quick start's commands, exactly as .ci/run and a new user run them
    expect(readme).toMatch(/^```sh\nnpm ci\nnpm start\n```$/m);
    expect(readme).toMatch(/^```sh\nnpm test\n```$/m);
    expect(stderr).toContain(`console    ${url}/ui/`);
    for (const name of Object.keys(tokens)) expect(readme).toContain(name);
  });

  it('runs every tour command as printed, beside the running service', async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    const blocks = tourBlocks(readme);
    expect(blocks.length).toBeGreaterThanOrEqual(8);
    const script = `set -eu\n${blocks.join('\n')}`;
    const r = spawnSync('bash', ['-c', script], { cwd: dir, env: { ...env, LOCKSTEP_URL: url }, encoding: 'utf8', timeout: 150_000 });
    const out = `${r.stdout}\n${r.stderr}`;
    expect(r.status, out).toBe(0);
    // what each step of the tour promises
    expect(r.stdout).toMatch(/card 101003: suspended, last used/); // unused for 45 days, class 4 allows 30
    expect(r.stdout).toMatch(/holds AG-WS/); // the joiner's doors
    expect(r.stdout).toMatch(/- revoke hugo\.becker DC1 meet-me room/); // the mover's plan
    expect(r.stdout).toMatch(/Apply complete! \d+ applied, 0 failed/);
    expect(r.stdout).toMatch(/leaver \(inactive\)/);
    expect(r.stdout).toMatch(/marked lost/);
    expect(r.stdout).toMatch(/four-eyes/);
    expect(r.stdout).toMatch(/^approved$/m); // the access request, by the approver
    expect(r.stdout).toMatch(/"status": "applied"/); // the held run, approved by the approver
    expect(r.stdout).toMatch(/aaron\.werner dc1-cages: revoke/);
    expect(r.stdout).toMatch(/audit log intact/);
    // the HR export is back as it was
    expect(await readFile(join(dir, 'mappings/examples/hr.csv'), 'utf8')).toBe(await readFile(join(ROOT, 'mappings/examples/hr.csv'), 'utf8'));
  }, 170_000);
});
