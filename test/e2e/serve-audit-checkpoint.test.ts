import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator } from '../../connectors/simulator/index.js';
import { serve, type RunningService } from '../../src/runtime/serve.js';
import { generateCheckpointKeys } from '../../src/store/index.js';
import { createTestStore, type TestStore } from '../helpers/db.js';

const ADMIN_TOKEN = 'admin-token-cp-0123456789abcdef';

describe('lockstep serve: signed audit checkpoints on the maintenance timer, verified through the admin API', { timeout: 60_000 }, () => {
  let dir: string;
  let sim: RunningSimulator;
  let store: TestStore;
  let svc: RunningService;
  const prefix = `lockstep-test-${randomBytes(4).toString('hex')}`;
  const keys = generateCheckpointKeys();
  const env = () => ({
    ...process.env,
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_URL: store.url!,
    LOCKSTEP_DATA_DIR: join(dir, 'data'),
    ADMIN_TOKEN,
    REDIS_URL: 'redis://127.0.0.1:6379',
    LOCKSTEP_NO_LOCAL_REDIS: '1',
    CP_KEY: keys.privatePem,
  });
  const config = (key: string) => `mappings: [./mappings.yaml]
systems:
  dc1: { type: simulator, options: { url: "${sim.url}", maxAttempts: 2 } }
sources:
  hr: { type: file, path: ./hr.csv, columns: { employeeId: externalId } }
queue: { prefix: ${prefix} }
audit:
  checkpoint:
    everyMs: 400
    ${key}
    sinks: [{ type: file, path: ./checkpoints.jsonl }]
`;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lockstep-serve-cp-'));
    sim = await startSimulator({ groups: [{ id: 'AG-PERIM', name: 'Perimeter', doors: [] }] });
    store = await createTestStore('postgres');
    await writeFile(join(dir, 'hr.csv'), 'employeeId,userName,displayName,employeeType\nE1,u1,Person 1,Employee\nE2,u2,Person 2,Employee\n');
    await writeFile(
      join(dir, 'mappings.yaml'),
      `version: 1\naccessGroups:\n  - { id: perimeter, system: dc1, ref: AG-PERIM, name: Perimeter, protectionClass: 1 }\nrules:\n  - { id: staff, when: 'active eq true', grant: [perimeter] }\n`,
    );
  });

  afterAll(async () => {
    await svc?.close();
    await sim?.close();
    await store?.drop();
    const redis = new Redis('redis://127.0.0.1:6379');
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
    await redis.quit();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses to start with an unreadable key, naming the field', async () => {
    await writeFile(join(dir, 'lockstep.yaml'), config('keyFile: ./missing.key'));
    await expect(serve({ configPath: join(dir, 'lockstep.yaml'), logLevel: 'silent', env: env() })).rejects.toThrow(
      /audit\.checkpoint\.keyFile: cannot read .*missing\.key: ENOENT/,
    );
  });

  it('writes checkpoints every everyMs, and POST /audit/verify holds them against the log until its tail is cut', async () => {
    await writeFile(join(dir, 'lockstep.yaml'), config('key: "${CP_KEY}"'));
    svc = await serve({ configPath: join(dir, 'lockstep.yaml'), logLevel: 'silent', env: env() });
    const file = join(dir, 'checkpoints.jsonl');
    // the start-up import and run write audit entries; wait for a checkpoint that covers some
    let text = '';
    await expect
      .poll(
        async () => {
          text = await readFile(file, 'utf8').catch(() => '');
          return text
            .trim()
            .split('\n')
            .filter(Boolean)
            .map((l) => (JSON.parse(l) as { seq: number }).seq)
            .some((s) => s > 0);
        },
        { timeout: 20_000, interval: 100 },
      )
      .toBe(true);
    const verify = async (checkpoints: string) => {
      const res = await fetch(`${svc.url}/api/v1/audit/verify`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ checkpoints }),
      });
      return { status: res.status, json: (await res.json()) as any };
    };
    const ok = await verify(text);
    expect(ok.status).toBe(200);
    expect(ok.json.ok).toBe(true);
    const newest = Math.max(
      ...text
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { seq: number }).seq),
    );
    expect(ok.json.anchoredSeq).toBe(newest);

    await svc.close();
    svc = undefined as unknown as RunningService;
    // remove the tail from the newest checkpointed entry on and set the head back: the chain alone verifies, the checkpoints do not
    await store.db.query('DELETE FROM audit_log WHERE seq >= $1', [newest]);
    const h = await store.db.query<{ seq: number; hash: string }>('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1');
    await store.db.query('UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1', [h.rows[0]?.seq ?? 0, h.rows[0]?.hash ?? '0'.repeat(64)]);
    await writeFile(join(dir, 'lockstep.yaml'), config('key: "${CP_KEY}"').replace('everyMs: 400', 'everyMs: 0'));
    svc = await serve({ configPath: join(dir, 'lockstep.yaml'), logLevel: 'silent', env: env() });
    const bad = await verify(text);
    expect(bad.status).toBe(409);
    expect(bad.json.chain.ok).toBe(true);
    // the restarted service's own entries may have taken the removed sequence numbers again
    expect(bad.json.firstBad).toMatchObject({ seq: newest });
    expect(['truncated', 'rewritten']).toContain(bad.json.firstBad.kind);
  });
});
