import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { serve, type RunningService } from '../../src/runtime/serve.js';
import { createTestStore, type TestStore } from './db.js';

export const REDIS_URL = 'redis://127.0.0.1:6379';

/** Polls until check gives something truthy, and returns it: the service applies changes asynchronously. */
export async function eventually<T>(
  check: () => T | null | undefined | false | Promise<T | null | undefined | false>,
  what: string,
  timeoutMs = 25_000,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * A `lockstep serve` for an end-to-end test: its own folder (config, mappings, data), its own
 * PostgreSQL database and Redis key prefix, tokens of the test's choosing; close() removes all
 * of it. Write the files with `file()`, then `start()` with the lockstep.yaml text (its
 * `queue.prefix` is `prefix`).
 */
export class ServiceFixture {
  readonly prefix = `lockstep-test-${randomBytes(4).toString('hex')}`;
  dir = '';
  store: TestStore | null = null;
  svc: RunningService | null = null;

  constructor(private readonly tokens: { scim?: string; admin?: string } = {}) {}

  async open(): Promise<this> {
    this.dir = await mkdtemp(join(tmpdir(), 'lockstep-e2e-'));
    this.store = await createTestStore('postgres');
    return this;
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  async file(name: string, text: string): Promise<void> {
    await writeFile(this.path(name), text);
  }

  /** The environment serve (and a CLI process beside it) runs with. */
  env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      DATABASE_URL: this.store!.url!,
      LOCKSTEP_DATA_DIR: this.path('data'),
      ...(this.tokens.scim ? { SCIM_TOKEN: this.tokens.scim } : {}),
      ...(this.tokens.admin ? { ADMIN_TOKEN: this.tokens.admin } : {}),
      REDIS_URL,
      LOCKSTEP_NO_LOCAL_REDIS: '1',
      ...extra,
    };
  }

  /** Writes lockstep.yaml and starts serve with it. */
  async start(config: string): Promise<RunningService> {
    await this.file('lockstep.yaml', config);
    this.svc = await serve({ configPath: this.path('lockstep.yaml'), logLevel: 'silent', env: this.env() });
    return this.svc;
  }

  get url(): string {
    return this.svc!.url!;
  }

  /** A JSON request to the admin API or the SCIM endpoint with the fixture's tokens. */
  async call(base: 'api/v1' | 'scim/v2', method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
    const token = base === 'scim/v2' ? this.tokens.scim : this.tokens.admin;
    const res = await fetch(`${this.url}/${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': base === 'scim/v2' ? 'application/scim+json' : 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : null };
  }

  async close(): Promise<void> {
    await this.svc?.close();
    await this.store?.drop();
    const redis = new Redis(REDIS_URL);
    const keys = await redis.keys(`${this.prefix}:*`);
    if (keys.length) await redis.del(...keys);
    await redis.quit();
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }
}
