import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator } from '../../connectors/simulator/index.js';
import { serve, type RunningService } from '../../src/runtime/serve.js';
import { createTestStore, type TestStore } from '../helpers/db.js';

const ADMIN_TOKEN = 'admin-token-sync-0123456789abcdef';
const SCIM_TOKEN = 'scim-token-sync-0123456789abcdef';

describe('lockstep serve: POST /api/v1/sources/{name}/sync answers with what the import found', () => {
  let dir: string;
  let sim: RunningSimulator;
  let store: TestStore;
  let svc: RunningService;
  const prefix = `lockstep-test-${randomBytes(4).toString('hex')}`;
  const header = 'employeeId,userName,displayName,employeeType,hireDate';
  const rows = (n: number) => Array.from({ length: n }, (_, i) => `E${i},u${i},Person ${i},Employee,2024-01-0${(i % 9) + 1}`);
  const sync = async (name: string) => {
    const res = await fetch(`${svc.url}/api/v1/sources/${name}/sync`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    return { status: res.status, json: (await res.json()) as any };
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lockstep-serve-sync-'));
    sim = await startSimulator({ groups: [{ id: 'AG-PERIM', name: 'Perimeter', doors: [] }] });
    store = await createTestStore('postgres');
    await writeFile(join(dir, 'hr.csv'), [header, ...rows(5)].join('\n') + '\n');
    await writeFile(
      join(dir, 'mappings.yaml'),
      `version: 1
accessGroups:
  - { id: perimeter, system: dc1, ref: AG-PERIM, name: Perimeter, protectionClass: 1 }
rules:
  - { id: staff, when: 'active eq true', grant: [perimeter] }
`,
    );
    await writeFile(
      join(dir, 'lockstep.yaml'),
      `mappings: [./mappings.yaml]
systems:
  dc1: { type: simulator, options: { url: "${sim.url}", maxAttempts: 2 } }
sources:
  hr: { type: file, path: ./hr.csv, columns: { employeeId: externalId } }
queue: { prefix: ${prefix} }
`,
    );
    svc = await serve({
      configPath: join(dir, 'lockstep.yaml'),
      logLevel: 'silent',
      env: { ...process.env, PORT: '0', HOST: '127.0.0.1', DATABASE_URL: store.url!, LOCKSTEP_DATA_DIR: join(dir, 'data'), ADMIN_TOKEN, SCIM_TOKEN, REDIS_URL: 'redis://127.0.0.1:6379', LOCKSTEP_NO_LOCAL_REDIS: '1' },
    });
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

  it('reports counts and the skipped row with its line and column', async () => {
    // the start-up import brought the five in; this export changes one and has a bad row
    const file = join(dir, 'hr.csv');
    const next = rows(5);
    next[1] = 'E1,u1,Person One Renamed,Employee,2024-01-02';
    await writeFile(file, [header, ...next, 'E9,u9,Person 9,Employee,someday'].join('\n') + '\n');
    const r = await sync('hr');
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ source: 'hr', type: 'file', synced: true, rows: 6, counts: { created: 0, updated: 1, unchanged: 4, leavers: 0 }, leaversWithheld: null, warnings: [] });
    expect(r.json.errors).toEqual([expect.objectContaining({ file, line: 7, column: 'hireDate', columnIndex: 5, externalId: 'E9' })]);
  });

  it('warns that a truncated export made nobody a leaver', async () => {
    await writeFile(join(dir, 'hr.csv'), [header, ...rows(1)].join('\n') + '\n');
    const r = await sync('hr');
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ type: 'file', rows: 1, counts: { leavers: 0 } });
    expect(r.json.warnings).toEqual([expect.stringMatching(/looks truncated/)]);
  });

  it('answers 404 for a source that is not configured', async () => {
    expect((await sync('payroll')).status).toBe(404);
  });

  it('answers 404 naming the source for prototype keys, which no configuration holds', async () => {
    for (const name of ['constructor', '__proto__', 'hasOwnProperty', 'toString']) {
      const r = await sync(name);
      expect(r.status, name).toBe(404);
      expect(r.json.error).toMatchObject({ code: 'not_found', field: 'source' });
    }
  });

  it("refuses at the SCIM edge a displayName over the configured simulator's limit", async () => {
    const r = await fetch(`${svc.url}/scim/v2/Users`, {
      method: 'POST',
      headers: { authorization: `Bearer ${SCIM_TOKEN}`, 'content-type': 'application/scim+json' },
      body: JSON.stringify({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'long@example.com', displayName: 'L'.repeat(600) }),
    });
    expect(r.status).toBe(400);
    expect(await r.json()).toMatchObject({ scimType: 'invalidValue', detail: 'displayName is 600 characters long; lock system dc1 accepts at most 500' });
  });
});
