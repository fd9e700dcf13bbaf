import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis, type RedisOptions } from 'ioredis';
import { LockstepError } from '../domain/errors.js';

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** A Redis URL (redis://, rediss://) or ioredis options. */
export type RedisConnection = string | RedisOptions;

/** ioredis options from a redis:// or rediss:// URL (db from the path, credentials from userinfo). */
export function redisOptionsFromUrl(url: string): RedisOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch (e) {
    throw new LockstepError('config', `REDIS_URL is not a URL: ${url.replace(/\/\/[^@]*@/, '//***@')}`, { field: 'REDIS_URL', cause: e });
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new LockstepError('config', `REDIS_URL must start with redis:// or rediss://, not ${u.protocol}//`, { field: 'REDIS_URL' });
  }
  const db = u.pathname.replace(/^\//, '');
  return {
    host: u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(db ? { db: Number(db) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

export function toRedisOptions(c: RedisConnection | undefined): RedisOptions {
  if (c === undefined) return redisOptionsFromUrl(process.env.REDIS_URL ?? DEFAULT_REDIS_URL);
  return typeof c === 'string' ? redisOptionsFromUrl(c) : { ...c };
}

/**
 * Options for connections that must ride out a Redis restart (workers, schedulers): commands
 * wait for the reconnect instead of failing after a few retries, and reconnects never stop.
 */
export function durableRedisOptions(c: RedisConnection | undefined): RedisOptions {
  return {
    ...toRedisOptions(c),
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    retryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 6), 5_000),
  };
}

/**
 * Options for producers (sources enqueueing): a request that cannot reach Redis fails soon,
 * so the caller can fall back to the outbox instead of hanging a SCIM request.
 */
export function producerRedisOptions(c: RedisConnection | undefined): RedisOptions {
  return {
    ...toRedisOptions(c),
    maxRetriesPerRequest: 1,
    retryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 6), 5_000),
  };
}

function describe(o: RedisOptions): string {
  return `${o.tls ? 'rediss' : 'redis'}://${o.host ?? '127.0.0.1'}:${o.port ?? 6379}${o.db ? `/${o.db}` : ''}`;
}

export type RedisCheck = { ok: true; url: string; version: string } | { ok: false; url: string; message: string };

/**
 * Whether Redis answers, and if not, one paragraph an operator can act on. Never throws;
 * never prints credentials.
 */
export async function checkRedis(connection?: RedisConnection, timeoutMs = 2_000): Promise<RedisCheck> {
  let opts: RedisOptions;
  try {
    opts = toRedisOptions(connection);
  } catch (e) {
    return { ok: false, url: '(invalid)', message: (e as Error).message };
  }
  const url = describe(opts);
  const client = new Redis({
    ...opts,
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  client.on('error', () => undefined);
  try {
    await Promise.race([
      client.connect(),
      sleep(timeoutMs, undefined, { ref: false }).then(() => {
        throw new Error(`no answer within ${timeoutMs} ms`);
      }),
    ]);
    const info = await client.info('server');
    const version = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
    return { ok: true, url, version };
  } catch (e) {
    const why = (e as Error).message;
    const onPath = redisServerOnPath();
    return {
      ok: false,
      url,
      message:
        `lockstep cannot reach Redis at ${url} (${why}). The queue (BullMQ) needs Redis 6.2 or newer; ` +
        `set REDIS_URL to a reachable server, or start one locally: ` +
        (onPath
          ? `\`redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --appendonly yes --dir ./data/redis\` (redis-server is installed on this machine), `
          : `install redis-server (e.g. \`apt-get install redis-server\` or \`brew install redis\`) and run \`redis-server --daemonize yes --bind 127.0.0.1 --port 6379\`, `) +
        `or \`docker run -d --name lockstep-redis -p 6379:6379 redis:7\`.`,
    };
  } finally {
    client.disconnect();
  }
}

/** Whether a redis-server binary is on PATH. */
export function redisServerOnPath(): boolean {
  const r = spawnSync('redis-server', ['--version'], { stdio: 'ignore' });
  return r.status === 0;
}

export interface LocalRedis {
  url: string;
  port: number;
  pid: number;
  /** Shuts the server down (it writes its append-only file first). */
  stop(): Promise<void>;
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

/**
 * Starts a redis-server for a single-machine install, with its data (append-only file)
 * under `<dataDir>/redis`, bound to 127.0.0.1. Port 0 picks a free one. The server is a
 * child of this process and stops with stop() or when this process exits; jobs survive a
 * restart through the AOF. A server a crashed lockstep left running on that directory is
 * reused rather than doubled (two servers must never share one AOF).
 */
export async function startLocalRedis(dataDir: string, opts: { port?: number; timeoutMs?: number } = {}): Promise<LocalRedis> {
  if (!redisServerOnPath()) {
    throw new LockstepError('unavailable', 'redis-server is not on PATH: install Redis, or set REDIS_URL to a running server', { field: 'REDIS_URL' });
  }
  const dir = resolve(dataDir, 'redis');
  mkdirSync(dir, { recursive: true });
  const stateFile = join(dir, 'lockstep-redis.json');
  const left = readLeftOver(stateFile);
  if (left && (!opts.port || opts.port === left.port) && (await checkRedis(`redis://127.0.0.1:${left.port}`, 500)).ok) {
    return {
      url: `redis://127.0.0.1:${left.port}`,
      port: left.port,
      pid: left.pid,
      stop: async () => {
        rmSync(stateFile, { force: true });
        await shutdownRedis(`redis://127.0.0.1:${left.port}`);
      },
    };
  }
  const port = opts.port && opts.port > 0 ? opts.port : await freePort();
  const child = spawn(
    'redis-server',
    [
      '--bind',
      '127.0.0.1',
      '--port',
      String(port),
      '--dir',
      dir,
      '--appendonly',
      'yes',
      '--save',
      '',
      '--protected-mode',
      'yes',
      '--daemonize',
      'no',
      '--logfile',
      '',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-2000);
  });
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  const onExit = () => child.kill('SIGTERM');
  process.once('exit', onExit);
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  for (;;) {
    const check = await checkRedis(url, 500);
    if (check.ok) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      process.off('exit', onExit);
      throw new LockstepError('unavailable', `redis-server did not start on port ${port}: ${stderr.trim() || 'no output'}`, { field: 'REDIS_URL' });
    }
    await sleep(50);
  }
  writeFileSync(stateFile, JSON.stringify({ pid: child.pid, port }));
  return {
    url,
    port,
    pid: child.pid!,
    stop: async () => {
      process.off('exit', onExit);
      rmSync(stateFile, { force: true });
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(5_000)]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

function readLeftOver(file: string): { pid: number; port: number } | null {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as { pid?: unknown; port?: unknown };
    return typeof v.pid === 'number' && typeof v.port === 'number' ? { pid: v.pid, port: v.port } : null;
  } catch {
    return null;
  }
}

/** Asks the server at url to shut down (it writes its AOF first); by command, not by pid, so nothing else is hit. */
async function shutdownRedis(url: string): Promise<void> {
  const client = new Redis({ ...redisOptionsFromUrl(url), maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.call('SHUTDOWN');
  } catch {
    // the connection drops as the server goes: that is the answer
  } finally {
    client.disconnect();
  }
}
