/**
 * The image, built and started, checked the way `docker compose up` would use it:
 *   node --import tsx scripts/image-rehearsal.ts          (npm run rehearse:image)
 *
 * Where a container engine runs (`docker info` or `podman info` succeeds), it builds the real
 * image from the Dockerfile and starts it. Where none does (CI's machine has the docker client
 * but no daemon), it rehearses the Dockerfile instead, read instruction by instruction:
 *   - each stage gets a root directory of its own; WORKDIR, COPY (from the build context as
 *     .dockerignore filters it, or --from an earlier stage) and ENV are applied under that root;
 *   - RUN steps run there: project commands (npm ci, npm run build, npm prune …) as written, in
 *     the stage's WORKDIR; the system steps (groupadd/useradd, mkdir, chown, chmod) are applied
 *     under the root, the user they create played by `nobody`;
 *   - ENTRYPOINT + CMD (`node dist/src/cli.js serve`) start as that non-root user (setpriv) with
 *     the image's ENV, in a network namespace of its own where one can be made (as a container
 *     has: PORT 8080 and the embedded simulator's 8181 as in the image), beside a Redis of its own.
 * Either way the service must answer /healthz, serve the console at /ui/, and take a SCIM POST
 * (/scim/v2/Users with a bearer SCIM_TOKEN); then it is stopped with SIGTERM and must exit 0.
 *
 * An instruction the rehearsal does not know fails it, naming the instruction: teach it here
 * rather than let the image drift from what CI checks. Prints `image rehearsal: ok (...)` and
 * exits 0, or names what failed and exits 1.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, posix, relative, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const SCIM_TOKEN = 'rehearsal-scim-token-0123456789abcdef';
const ADMIN_TOKEN = 'rehearsal-admin-token-0123456789abcdef';
const NOBODY = { user: 'nobody', uid: 65534, gid: 65534 };

const log = (s: string) => process.stderr.write(`[image] ${s}\n`);
class RehearsalError extends Error {}
const fail = (s: string): never => {
  throw new RehearsalError(s);
};

// ---------------------------------------------------------------------------------------------
// The Dockerfile, read
// ---------------------------------------------------------------------------------------------

export interface Instruction {
  op: string;
  args: string;
  line: number;
}

/** Instructions with their continuation lines joined; comments and parser directives dropped. */
export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let cur = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trimEnd();
    if (!cur && (/^\s*#/.test(line) || !line.trim())) return;
    if (cur && /^\s*#/.test(line)) return; // a comment inside a continued instruction
    if (!cur) start = i + 1;
    if (line.endsWith('\\')) {
      cur += `${line.slice(0, -1)} `;
      return;
    }
    cur += line;
    const m = /^\s*(\w+)\s+([\s\S]*)$/.exec(cur);
    if (!m) fail(`Dockerfile:${start}: cannot read "${cur}"`);
    out.push({ op: m![1].toUpperCase(), args: m![2].trim(), line: start });
    cur = '';
  });
  return out;
}

/** JSON exec form (`["node", "x"]`) or shell form. */
function words(args: string): string[] {
  if (args.startsWith('[')) return JSON.parse(args) as string[];
  return ['/bin/sh', '-c', args];
}

/** `A=1 B="x y"` (or the legacy `A 1`). */
function parseEnv(args: string): [string, string][] {
  if (!args.includes('=')) {
    const [k, ...v] = args.split(/\s+/);
    return [[k, v.join(' ')]];
  }
  const out: [string, string][] = [];
  for (const m of args.matchAll(/(\w+)=("(?:[^"\\]|\\.)*"|\S*)/g)) out.push([m[1], m[2].startsWith('"') ? (JSON.parse(m[2]) as string) : m[2]]);
  return out;
}

// ---------------------------------------------------------------------------------------------
// The build context, as .dockerignore filters it
// ---------------------------------------------------------------------------------------------

function ignoreRules(): { re: RegExp; negate: boolean }[] {
  const file = join(ROOT, '.dockerignore');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pat = posix.normalize((negate ? l.slice(1) : l).replace(/^\/+/, '')).replace(/\/+$/, '');
      const re = pat
        .split('/')
        .map((seg) =>
          seg === '**'
            ? '(?:.*)'
            : seg
                .replace(/[.+^${}()|[\]\\]/g, '\\$&')
                .replace(/\*/g, '[^/]*')
                .replace(/\?/g, '[^/]'),
        )
        .join('/')
        .replace(/\(\?:\.\*\)\//g, '(?:.*/)?');
      return { re: new RegExp(`^${re}$`), negate };
    });
}

/** Docker's rule: the last pattern matching the path (or one of its parents) decides. */
function ignored(rel: string, rules: { re: RegExp; negate: boolean }[]): boolean {
  const parts = rel.split('/');
  let out = false;
  for (const r of rules) {
    for (let i = 1; i <= parts.length; i++) {
      if (r.re.test(parts.slice(0, i).join('/'))) {
        out = !r.negate;
        break;
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The rehearsal
// ---------------------------------------------------------------------------------------------

interface Stage {
  name: string;
  root: string;
  workdir: string;
  env: Record<string, string>;
  user: string | null;
  entrypoint: string[];
  cmd: string[];
  expose: number[];
}

/** A path of the image, under the stage's root on this machine. */
const inRoot = (s: Stage, p: string) => join(s.root, posix.resolve(s.workdir, p));

function copyFiltered(from: string, to: string, rules: { re: RegExp; negate: boolean }[]): void {
  const rel = relative(ROOT, from).split('\\').join('/');
  if (rel && ignored(rel, rules)) return;
  const st = lstatSync(from);
  if (st.isDirectory()) {
    mkdirSync(to, { recursive: true });
    for (const name of readdirSync(from)) copyFiltered(join(from, name), join(to, name), rules);
  } else {
    mkdirSync(dirname(to), { recursive: true });
    cpSync(from, to, { preserveTimestamps: true, verbatimSymlinks: true });
  }
}

/** COPY [--from=stage] <src>... <dest>: a directory's contents, as Docker copies them. */
function copy(stage: Stage, args: string, stages: Map<string, Stage>, rules: { re: RegExp; negate: boolean }[], line: number): void {
  const parts = args.startsWith('[') ? (JSON.parse(args) as string[]) : args.split(/\s+/);
  let from: Stage | null = null;
  while (parts[0]?.startsWith('--')) {
    const flag = parts.shift()!;
    const m = /^--from=(.+)$/.exec(flag);
    if (!m) fail(`Dockerfile:${line}: COPY ${flag} is not rehearsed`);
    from = stages.get(m![1]) ?? fail(`Dockerfile:${line}: no stage ${m![1]}`);
  }
  const dest = parts.pop()!;
  const target = inRoot(stage, dest);
  for (const src of parts) {
    const source = from ? join(from.root, posix.resolve(from.workdir, src)) : join(ROOT, src);
    if (!existsSync(source)) fail(`Dockerfile:${line}: COPY ${src}: not in the ${from ? `stage ${from.name}` : 'build context'}`);
    const into = parts.length > 1 || dest.endsWith('/') ? join(target, src.split('/').pop()!) : target;
    if (statSync(source).isDirectory()) {
      // from another stage: hard links (one file system, and the stage is discarded), as fast as a layer
      if (from) execFileSync('cp', ['-a', '--link', `${source}/.`, `${target}/`], { stdio: ['ignore', 'ignore', 'inherit'] });
      else copyFiltered(source, target, rules);
    } else if (from) cpSync(source, into);
    else copyFiltered(source, into, rules);
  }
}

/** A RUN step: system commands applied under the root, everything else run as written. */
function run(stage: Stage, args: string, line: number): void {
  for (const step of args.split(/\s*&&\s*/)) {
    const [cmd, ...rest] = step.trim().split(/\s+/);
    const paths = rest.filter((a) => !a.startsWith('-'));
    switch (cmd) {
      case 'groupadd':
      case 'useradd':
        // the user the image runs as is played by nobody
        log(`  ${cmd} ${paths.at(-1)}: played by ${NOBODY.user}`);
        break;
      case 'mkdir':
        for (const p of paths) mkdirSync(inRoot(stage, p), { recursive: true });
        break;
      case 'chown':
        for (const p of paths.slice(1)) if (process.getuid?.() === 0) chownSync(inRoot(stage, p), NOBODY.uid, NOBODY.gid);
        break;
      case 'chmod':
        for (const p of paths.slice(1)) chmodSync(inRoot(stage, p), parseInt(paths[0], 8));
        break;
      default: {
        if (!['npm', 'node', 'npx'].includes(cmd)) fail(`Dockerfile:${line}: RUN ${cmd} is not rehearsed (teach scripts/image-rehearsal.ts)`);
        log(`  RUN ${step.trim()}`);
        const t0 = Date.now();
        const r = spawnSync('/bin/sh', ['-c', step], {
          cwd: join(stage.root, stage.workdir),
          // the npm cache is this machine's: what `npm ci` fetched before it need not fetch again
          env: { ...process.env, ...stage.env, npm_config_prefer_offline: 'true', npm_config_update_notifier: 'false' },
          stdio: ['ignore', 'pipe', 'pipe'],
          encoding: 'utf8',
        });
        if (r.status !== 0) fail(`Dockerfile:${line}: RUN ${step.trim()} failed (exit ${r.status}):\n${(r.stdout + r.stderr).slice(-4000)}`);
        log(`    done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      }
    }
  }
}

/** Builds every stage of the Dockerfile under base; returns the last (the image). */
function rehearseBuild(base: string, instructions: Instruction[]): Stage {
  const stages = new Map<string, Stage>();
  const rules = ignoreRules();
  let stage: Stage | null = null;
  for (const ins of instructions) {
    if (ins.op === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args) ?? fail(`Dockerfile:${ins.line}: FROM ${ins.args}`);
      const image = m[1];
      if (!/^node:(\d+)/.test(image)) fail(`Dockerfile:${ins.line}: FROM ${image}: the rehearsal plays node images only`);
      const major = Number(/^node:(\d+)/.exec(image)![1]);
      // DESIGN.md: the image runs on a maintained Node LTS (22 or newer)
      if (major < 22) fail(`Dockerfile:${ins.line}: FROM ${image}: the image runs on Node 22 LTS or newer`);
      const name = m[2] ?? `stage-${stages.size}`;
      const root = join(base, name);
      mkdirSync(root, { recursive: true });
      stage = { name, root, workdir: '/', env: {}, user: null, entrypoint: [], cmd: [], expose: [] };
      stages.set(name, stage);
      log(`stage ${name} (${image}; this machine runs Node ${process.versions.node})`);
      continue;
    }
    if (!stage) fail(`Dockerfile:${ins.line}: ${ins.op} before FROM`);
    const s = stage!;
    switch (ins.op) {
      case 'WORKDIR':
        s.workdir = posix.resolve(s.workdir, ins.args);
        mkdirSync(join(s.root, s.workdir), { recursive: true });
        break;
      case 'ENV':
        for (const [k, v] of parseEnv(ins.args)) s.env[k] = v;
        break;
      case 'COPY':
        log(`  COPY ${ins.args}`);
        copy(s, ins.args, stages, rules, ins.line);
        break;
      case 'RUN':
        run(s, ins.args, ins.line);
        break;
      case 'USER':
        s.user = ins.args;
        break;
      case 'EXPOSE':
        s.expose.push(...ins.args.split(/\s+/).map((p) => Number(p.split('/')[0])));
        break;
      case 'ENTRYPOINT':
        s.entrypoint = words(ins.args);
        break;
      case 'CMD':
        s.cmd = words(ins.args);
        break;
      case 'HEALTHCHECK':
      case 'LABEL':
      case 'ARG':
        break;
      default:
        fail(`Dockerfile:${ins.line}: ${ins.op} is not rehearsed (teach scripts/image-rehearsal.ts)`);
    }
  }
  return stage ?? fail('the Dockerfile has no FROM');
}

// ---------------------------------------------------------------------------------------------
// Starting it and asking it
// ---------------------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  return new Promise((ok, no) => {
    const s = createServer();
    s.once('error', no);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => ok(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

async function until<T>(what: string, ms: number, fn: () => Promise<T | null>): Promise<T> {
  const end = Date.now() + ms;
  let last = '';
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v !== null) return v;
    } catch (e) {
      last = (e as Error).message;
    }
    await sleep(250);
  }
  return fail(`${what}: no answer within ${ms / 1000} s${last ? ` (${last})` : ''}`);
}

/** The checks a deployment relies on; `base` is the service's http://host:port. */
async function ask(base: string, alive: () => string | null): Promise<string[]> {
  const seen: string[] = [];
  const health = await until('/healthz', 90_000, async () => {
    const dead = alive();
    if (dead) fail(`the service exited before it answered:\n${dead}`);
    const r = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(2000) });
    return r.ok ? r.status : null;
  });
  seen.push(`/healthz ${health}`);
  const ui = await fetch(`${base}/ui/`);
  const page = await ui.text();
  if (ui.status !== 200 || !/<div id="root">|<script[^>]+type="module"/.test(page)) fail(`/ui/ answered ${ui.status}: ${page.slice(0, 300)}`);
  seen.push(`/ui/ ${ui.status}`);
  const scim = await fetch(`${base}/scim/v2/Users`, {
    method: 'POST',
    headers: { authorization: `Bearer ${SCIM_TOKEN}`, 'content-type': 'application/scim+json' },
    body: JSON.stringify({
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
      userName: 'rehearsal.joiner@dc1.example',
      externalId: 'R0001',
      active: true,
      displayName: 'Rehearsal Joiner',
    }),
  });
  const created = (await scim.json().catch(() => ({}))) as { id?: string };
  if (scim.status !== 201 || !created.id) fail(`SCIM POST /scim/v2/Users answered ${scim.status}: ${JSON.stringify(created).slice(0, 300)}`);
  seen.push(`SCIM POST ${scim.status}`);
  const unauth = await fetch(`${base}/scim/v2/Users`, { method: 'POST', headers: { 'content-type': 'application/scim+json' }, body: '{}' });
  if (unauth.status !== 401) fail(`SCIM POST without a token answered ${unauth.status}, not 401`);
  return seen;
}

function stop(child: ChildProcess, ms = 20_000): Promise<number | string> {
  return new Promise((ok) => {
    if (child.exitCode !== null || child.signalCode !== null) return ok(child.exitCode ?? child.signalCode!);
    const t = setTimeout(() => child.kill('SIGKILL'), ms);
    child.once('exit', (code, sig) => {
      clearTimeout(t);
      ok(code ?? sig ?? 'unknown');
    });
    child.kill('SIGTERM');
  });
}

/** Inside the namespace (or on this machine's loopback): Redis, the service as nobody, the checks. */
async function runImage(stage: Stage, isolated: boolean): Promise<string> {
  const port = isolated ? Number(stage.env.PORT ?? stage.expose[0] ?? 8080) : await freePort();
  const redisPort = isolated ? 6379 : await freePort();
  const redisDir = mkdtempSync(join(tmpdir(), 'lockstep-rehearsal-redis-'));
  const redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', redisDir], {
    stdio: 'ignore',
  });
  const mapped = Object.fromEntries(Object.entries(stage.env).map(([k, v]) => [k, v.startsWith('/') ? join(stage.root, v) : v]));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: join(stage.root, stage.workdir),
    ...mapped,
    PORT: String(port),
    REDIS_URL: `redis://127.0.0.1:${redisPort}`,
    SCIM_TOKEN,
    ADMIN_TOKEN,
    LOG_LEVEL: 'warn',
  };
  const argv = [...stage.entrypoint, ...stage.cmd];
  const asRoot = process.getuid?.() === 0;
  // USER <name>: the rehearsal's user is nobody (root cannot be the image's user)
  const [cmd, ...args] = stage.user && asRoot ? ['setpriv', `--reuid=${NOBODY.uid}`, `--regid=${NOBODY.gid}`, '--clear-groups', '--', ...argv] : argv;
  log(
    `start ${argv.join(' ')} as ${stage.user && asRoot ? `${NOBODY.user} (USER ${stage.user})` : 'this user'}, port ${port}${isolated ? ', own network namespace' : ''}`,
  );
  const child = spawn(cmd, args, { cwd: join(stage.root, stage.workdir), env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (b: Buffer) => (output += b.toString()));
  child.stderr.on('data', (b: Buffer) => (output += b.toString()));
  const alive = () => (child.exitCode !== null || child.signalCode !== null ? `exit ${child.exitCode ?? child.signalCode}\n${output.slice(-4000)}` : null);
  try {
    await until('Redis', 10_000, async () =>
      spawnSync('redis-cli', ['-p', String(redisPort), 'ping'], { encoding: 'utf8' }).stdout.trim() === 'PONG' ? true : null,
    );
    const seen = await ask(`http://127.0.0.1:${port}`, alive);
    // a CLI command beside serve, as `docker exec` runs one: it uses the store serve shares
    const asUser = (argv: string[]) =>
      stage.user && asRoot ? ['setpriv', `--reuid=${NOBODY.uid}`, `--regid=${NOBODY.gid}`, '--clear-groups', '--', ...argv] : argv;
    const [vcmd, ...vargs] = asUser([...stage.entrypoint, 'audit', 'verify']);
    const verify = spawnSync(vcmd, vargs, { cwd: join(stage.root, stage.workdir), env, encoding: 'utf8', timeout: 60_000 });
    if (verify.status !== 0 || !verify.stdout.startsWith('audit log intact'))
      fail(`audit verify beside serve: exit ${verify.status}\n${verify.stdout}${verify.stderr}`);
    seen.push('audit verify beside serve 0');
    if (child.pid && asRoot && stage.user) {
      const uid = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1];
      if (uid === '0') fail('the service runs as root');
      seen.push(`uid ${uid}`);
    }
    const code = await stop(child);
    if (code !== 0) fail(`the service did not stop cleanly on SIGTERM (${code}):\n${output.slice(-4000)}`);
    seen.push('SIGTERM exit 0');
    return seen.join(', ');
  } finally {
    if (alive() === null) child.kill('SIGKILL');
    redis.kill('SIGKILL');
    rmSync(redisDir, { recursive: true, force: true });
  }
}

/** A network namespace of its own, as a container has: only as root, and only where unshare and ip work. */
function canIsolate(): boolean {
  if (process.getuid?.() !== 0 || process.env.LOCKSTEP_REHEARSAL_SHARED_NET === '1') return false;
  return spawnSync('unshare', ['--net', '--', 'ip', 'link', 'set', 'lo', 'up'], { stdio: 'ignore' }).status === 0;
}

// ---------------------------------------------------------------------------------------------
// A container engine, where one runs
// ---------------------------------------------------------------------------------------------

function engine(): string | null {
  if (process.env.LOCKSTEP_REHEARSAL_ENGINE === 'none') return null;
  for (const e of ['docker', 'podman']) {
    if (spawnSync(e, ['info'], { stdio: 'ignore', timeout: 15_000 }).status === 0) return e;
  }
  return null;
}

async function withEngine(e: string): Promise<string> {
  const tag = `lockstep-rehearsal:${process.pid}`;
  log(`${e} build -t ${tag} .`);
  execFileSync(e, ['build', '-t', tag, ROOT], { stdio: ['ignore', 'inherit', 'inherit'] });
  const net = `lockstep-rehearsal-${process.pid}`;
  const port = await freePort();
  execFileSync(e, ['network', 'create', net], { stdio: 'ignore' });
  const ids: string[] = [];
  try {
    ids.push(execFileSync(e, ['run', '-d', '--rm', '--network', net, '--name', `${net}-redis`, 'redis:7'], { encoding: 'utf8' }).trim());
    ids.push(
      execFileSync(
        e,
        [
          'run',
          '-d',
          '--network',
          net,
          '-p',
          `127.0.0.1:${port}:8080`,
          '-e',
          `REDIS_URL=redis://${net}-redis:6379`,
          '-e',
          `SCIM_TOKEN=${SCIM_TOKEN}`,
          '-e',
          `ADMIN_TOKEN=${ADMIN_TOKEN}`,
          tag,
        ],
        { encoding: 'utf8' },
      ).trim(),
    );
    const app = ids[1];
    const seen = await ask(`http://127.0.0.1:${port}`, () => {
      const s = spawnSync(e, ['inspect', '-f', '{{.State.Running}}', app], { encoding: 'utf8' }).stdout.trim();
      return s === 'false' ? spawnSync(e, ['logs', app], { encoding: 'utf8' }).stderr.slice(-4000) : null;
    });
    const verify = spawnSync(e, ['exec', app, 'node', 'dist/src/cli.js', 'audit', 'verify'], { encoding: 'utf8' });
    if (verify.status !== 0 || !verify.stdout.startsWith('audit log intact'))
      fail(`audit verify beside serve: exit ${verify.status}\n${verify.stdout}${verify.stderr}`);
    seen.push('audit verify beside serve 0');
    const user = execFileSync(e, ['exec', app, 'id', '-u'], { encoding: 'utf8' }).trim();
    if (user === '0') fail('the container runs as root');
    seen.push(`uid ${user}`);
    execFileSync(e, ['stop', '-t', '20', app], { stdio: 'ignore' });
    const code = execFileSync(e, ['inspect', '-f', '{{.State.ExitCode}}', app], { encoding: 'utf8' }).trim();
    if (code !== '0') fail(`the container did not stop cleanly on SIGTERM (exit ${code})`);
    seen.push('SIGTERM exit 0');
    return seen.join(', ');
  } finally {
    for (const id of ids) spawnSync(e, ['rm', '-f', id], { stdio: 'ignore' });
    spawnSync(e, ['network', 'rm', net], { stdio: 'ignore' });
    spawnSync(e, ['rmi', tag], { stdio: 'ignore' });
  }
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const t0 = Date.now();
  const [mode, arg] = process.argv.slice(2);
  if (mode === '--inside') {
    // the second half, in the network namespace: the built stage is described in arg
    const stage = JSON.parse(readFileSync(arg, 'utf8')) as Stage;
    spawnSync('ip', ['link', 'set', 'lo', 'up']);
    process.stdout.write(`${await runImage(stage, true)}\n`);
    return;
  }
  const e = engine();
  if (e) {
    const seen = await withEngine(e);
    process.stdout.write(`image rehearsal: ok (${e} build and run; ${seen}; ${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
    return;
  }
  log('no container engine answers (docker info, podman info): rehearsing the Dockerfile on this machine');
  const base = mkdtempSync(join(tmpdir(), 'lockstep-image-'));
  // nobody must reach the image's files, as in a container where they are root's and world-readable
  chmodSync(base, 0o755);
  try {
    const stage = rehearseBuild(base, parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8')));
    if (!stage.entrypoint.length && !stage.cmd.length) fail('the image has neither ENTRYPOINT nor CMD');
    let seen: string;
    if (canIsolate()) {
      const desc = join(base, 'stage.json');
      writeFileSync(desc, JSON.stringify(stage));
      const r = spawnSync('unshare', ['--net', '--', process.execPath, ...process.execArgv, import.meta.filename, '--inside', desc], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
        timeout: 180_000,
      });
      if (r.status !== 0) fail(`the image did not pass its checks (exit ${r.status ?? r.signal})`);
      seen = r.stdout.trim();
    } else seen = await runImage(stage, false);
    process.stdout.write(`image rehearsal: ok (Dockerfile rehearsed without a container engine; ${seen}; ${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
}

if (isAbsolute(process.argv[1] ?? '') && resolve(process.argv[1]) === import.meta.filename) {
  main().catch((e: unknown) => {
    process.stderr.write(`image rehearsal: FAILED: ${e instanceof RehearsalError ? e.message : ((e as Error).stack ?? String(e))}\n`);
    process.exit(1);
  });
}
