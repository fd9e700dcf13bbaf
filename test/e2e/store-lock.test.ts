/**
 * `lockstep serve` on the embedded store (PGlite, no DATABASE_URL) and CLI commands beside it,
 * each a process of its own. serve shares its store on a local socket (src/store/share.ts) and
 * names it in its lock file; the CLI uses that instead of opening the PGlite directory a second
 * time (which corrupts it). What still cannot share (a second serve) is refused with exit 7.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
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
const SCIM_TOKEN = 'scim-token-lock-0123456789abcdef';

describe('the CLI beside a running serve on the embedded store', { timeout: 240_000 }, () => {
  let dir: string;
  let serve: ChildProcess | null = null;
  let serveLog = '';
  let adminUrl: string;
  let simUrl: string;
  const prefix = `lockstep-test-${randomBytes(4).toString('hex')}`;
  const env = () => {
    const e: NodeJS.ProcessEnv = {
      ...process.env,
      LOCKSTEP_DATA_DIR: join(dir, 'data'),
      LOG_LEVEL: 'error',
      NO_COLOR: '1',
      REDIS_URL: 'redis://127.0.0.1:6379',
      LOCKSTEP_NO_LOCAL_REDIS: '1',
      ADMIN_TOKEN,
      SCIM_TOKEN,
      PORT: '0',
      HOST: '127.0.0.1',
    };
    delete e.DATABASE_URL;
    return e;
  };
  const cli = async (...args: string[]) => {
    try {
      const r = await run(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli.ts'), '--config', join(dir, 'lockstep.yaml'), ...args], {
        cwd: ROOT,
        env: env(),
        timeout: 90_000,
      });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (e) {
      const x = e as { code: number; stdout: string; stderr: string };
      return { code: x.code, stdout: x.stdout, stderr: x.stderr };
    }
  };
  const startServe = () =>
    new Promise<{ child: ChildProcess; url: string }>((ok, fail) => {
      // info: the start-up lines are counted below
      const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli.ts'), '--config', join(dir, 'lockstep.yaml'), 'serve'], {
        cwd: ROOT,
        env: { ...env(), LOG_LEVEL: 'info' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      serveLog = '';
      child.stderr.on('data', (b: Buffer) => {
        serveLog += b.toString();
        const m = /admin API\s+(http:\/\/\S+\/api\/v1)/.exec(serveLog);
        const sim = /simulator\s+dc1: (http:\/\/\S+)\/api/.exec(serveLog);
        if (m && sim) {
          simUrl = sim[1]!;
          ok({ child, url: m[1] });
        }
      });
      child.once('exit', (code) => fail(new Error(`serve exited (${code}) before it was running:\n${serveLog}`)));
    });
  const exited = (c: ChildProcess) => new Promise<void>((ok) => (c.exitCode !== null || c.signalCode !== null ? ok() : c.once('exit', () => ok())));
  const lockFile = () => join(dir, 'data', 'pglite.lock');
  const headers = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
  const scimUser = (n: number) =>
    fetch(`${adminUrl.replace(/\/api\/v1$/, '')}/scim/v2/Users`, {
      method: 'POST',
      headers: { authorization: `Bearer ${SCIM_TOKEN}`, 'content-type': 'application/scim+json' },
      body: JSON.stringify({
        schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
        userName: `beside.${n}@dc1.example`,
        externalId: `B${n}`,
        active: true,
        displayName: `Beside ${n}`,
      }),
    });
  /** Waits until serve's start-up run has applied (the example people have accounts). */
  const settled = async () => {
    await expect
      .poll(async () => ((await (await fetch(`${simUrl}/api/accounts`)).json()) as { items: unknown[] }).items.length, { timeout: 60_000, interval: 500 })
      .toBeGreaterThan(0);
    await expect
      .poll(async () => ((await (await fetch(`${adminUrl}/runs?limit=1`, { headers })).json()) as { runs: { status: string }[] }).runs[0]?.status, {
        timeout: 60_000,
        interval: 500,
      })
      .toBe('applied');
  };

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

  it('logs the start-up run once, and names its shared socket (for this user only) in its lock', async () => {
    expect(serveLog.match(/"msg":"full reconciliation queued"/g)).toHaveLength(1);
    await expect.poll(async () => JSON.parse(await readFile(lockFile(), 'utf8')).adminUrl, { timeout: 10_000 }).toBe(adminUrl);
    const rec = JSON.parse(await readFile(lockFile(), 'utf8')) as { share: string; pid: number };
    expect(rec).toMatchObject({ pid: serve!.pid, share: join(dir, 'data', 'pglite.socket') });
    expect((await stat(rec.share)).mode & 0o777).toBe(0o700);
    expect((await stat(join(rec.share, '.s.PGSQL.5432'))).mode & 0o777).toBe(0o600);
  });

  it('runs plan, apply, explain, report and audit verify beside serve, with their usual output and exit codes', async () => {
    await settled();
    const plan = await cli('plan', '--json');
    expect(plan.stderr).toBe('');
    expect(plan.code).toBe(0);
    expect(JSON.parse(plan.stdout)).toMatchObject({ plan: { operations: expect.any(Array) } });

    // serve's start-up run applied everything: nothing to change, so --detailed-exitcode says 0
    const detailed = await cli('plan', '--detailed-exitcode');
    expect(detailed.code).toBe(0);
    expect(detailed.stdout).toContain('No changes.');

    const apply = await cli('apply', '--yes');
    expect(apply.code).toBe(0);
    expect(apply.stdout).toMatch(/Apply complete! 0 applied, 0 failed\./);

    const explain = await cli('explain', 'anna.schmidt');
    expect(explain.code).toBe(0);
    expect(explain.stdout).toContain('Anna Schmidt <anna.schmidt>');
    expect(explain.stdout).toMatch(/dc1: account \S+ \(active, linked\)/);

    const report = await cli('report', '--format', 'csv');
    expect(report.code).toBe(0);
    expect(report.stdout).toContain('anna.schmidt');

    const verify = await cli('audit', 'verify');
    expect(verify).toMatchObject({ code: 0, stderr: '' });
    expect(verify.stdout).toMatch(/^audit log intact: \d+ entries/);
  });

  it('marks a card lost and records and lists an exception beside serve', async () => {
    const accounts = ((await (await fetch(`${simUrl}/api/accounts`)).json()) as { items: { id: string; displayName: string }[] }).items;
    const anna = accounts.find((a) => a.displayName === 'Anna Schmidt')!;
    const card = (await (
      await fetch(`${simUrl}/api/accounts/${anna.id}/credentials`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'card', number: '4711' }),
      })
    ).json()) as { id: string };

    const lost = await cli('credential', 'lost', 'dc1', card.id, '--account', anna.id, '--note', 'left on the train');
    expect(lost.stderr).toBe('');
    expect(lost.code).toBe(0);
    expect(lost.stdout).toContain(`credential ${card.id} of Anna Schmidt: marked lost`);
    expect(lost.stdout).toMatch(/incident \S+ opened; NIS2 early warning due by/);

    const add = await cli('exception', 'add', 'ben.keller', 'dc1-whitespace', '--until', '2099-01-01', '--reason', 'beside serve');
    expect(add.stderr).toBe('');
    expect(add.code).toBe(0);
    expect(add.stdout).toMatch(/exception \S+: dc1-whitespace denied to ben.keller until/);

    const list = await cli('exception', 'list');
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/dc1-whitespace denied to .+ until 2099-01-01.*beside serve/);
  });

  it("keeps serve's and the CLI's transactions apart: SCIM writes during CLI writes all land, and the audit chain holds", async () => {
    const [scim, apply, exception] = await Promise.all([
      Promise.all(Array.from({ length: 12 }, (_, i) => scimUser(i).then((r) => r.status))),
      cli('apply', '--yes'),
      cli('exception', 'add', 'chiara.novak', 'dc1-whitespace', '--until', '2099-01-01', '--reason', 'while SCIM writes'),
    ]);
    expect(scim).toEqual(Array(12).fill(201));
    expect(apply.code, apply.stderr).toBe(0);
    expect(exception.code, exception.stderr).toBe(0);
    // serve still answers from the same store, and it holds what both wrote
    const ready = await fetch(`${adminUrl.replace(/\/api\/v1$/, '')}/readyz`);
    expect(ready.status).toBe(200);
    const people = await cli('explain', 'beside.11@dc1.example');
    expect(people.code, people.stderr).toBe(0);
    const list = await cli('exception', 'list', '--json');
    expect((JSON.parse(list.stdout) as { reason: string }[]).map((x) => x.reason).sort()).toEqual(['beside serve', 'while SCIM writes']);
    const verify = await cli('audit', 'verify', '--json');
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true });
  });

  it("refuses a second serve with exit 7, naming the first (a service must not live on another one's store)", async () => {
    const second = await cli('serve');
    expect(second.code).toBe(7);
    expect(second.stderr).toContain(
      `error: the embedded store ${join(dir, 'data', 'pglite')} is in use by lockstep serve (pid ${serve!.pid}); use its admin API at ${adminUrl} or set DATABASE_URL to share a PostgreSQL store`,
    );
  });

  it('gives the same answer beside serve as alone, frees the store when serve stops, and takes over from a killed serve', async () => {
    const beside = await cli('explain', 'anna.schmidt');
    serve!.kill('SIGTERM');
    await exited(serve!);
    expect(existsSync(lockFile())).toBe(false);
    expect(existsSync(join(dir, 'data', 'pglite.socket'))).toBe(false);
    const alone = await cli('explain', 'anna.schmidt');
    expect(alone).toEqual(beside);
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
