import type { Server } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, sourceSyncResponseSchema, type SourcePullResult } from '../../../src/api/index.js';
import { LockstepError } from '../../../src/domain/errors.js';
import { entraSourceSchema, FakeGraph, pullEntra } from '../../../src/sources/entra/index.js';
import { fileSourceSchema, syncFileSource } from '../../../src/sources/file/index.js';
import { createTestEngine, type TestEngine } from '../../helpers/engine.js';
import { MAPPINGS } from '../reconcile/mappings.js';

const TOKEN = 'admin-token-sources-0123456789';
const uuid = (n: number) => `11111111-0000-4000-8000-${String(n).padStart(12, '0')}`;

describe('admin API: POST /sources/{name}/sync answers with what the sync found', () => {
  let e: TestEngine;
  let server: Server;
  let base: string;
  let dir: string;
  let graph: FakeGraph;
  const sources = {
    hr: () => fileSourceSchema.parse({ type: 'file', path: join(dir, 'hr.csv'), columns: { employeeId: 'externalId' } }),
    entra: () =>
      entraSourceSchema.parse({
        type: 'entra',
        tenantId: '66666666-6666-4666-8666-666666666666',
        auth: 'none',
        graphBaseUrl: graph.url,
        maxRemovalPercent: 20,
      }),
  };
  // composed as the service composes it: the source's own pull, its result handed to the API
  const syncSource = async (name: string, actor: string): Promise<SourcePullResult> => {
    if (name === 'hr') return { type: 'file', result: await syncFileSource({ db: e.ctx.db, name, config: sources.hr(), path: join(dir, 'hr.csv'), actor }) };
    if (name === 'entra')
      return {
        type: 'entra',
        result: await pullEntra({ db: e.ctx.db, source: { ...sources.entra(), name }, onChange: () => undefined, logger: pino({ level: 'silent' }) }),
      };
    throw new LockstepError('not_found', `no source named ${name}`, { field: 'source' });
  };
  const sync = async (name: string) => {
    const res = await fetch(`${base}/api/v1/sources/${name}/sync`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
    return { status: res.status, json: (await res.json()) as any };
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lockstep-sync-api-'));
    graph = await FakeGraph.start();
    e = await createTestEngine('postgres', MAPPINGS);
    const app = createApp({ ctx: e.ctx, adminTokens: [TOKEN], bodyLimitBytes: 4096, syncSource });
    server = await new Promise<Server>((r) => {
      const s = app.listen(0, '127.0.0.1', () => r(s));
    });
    const addr = server.address();
    base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    await e.close();
    await graph.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('reports the counts of an HR import and every skipped row with file, line, column and reason', async () => {
    const file = join(dir, 'hr.csv');
    await writeFile(
      file,
      [
        'employeeId,userName,displayName,employeeType,hireDate',
        'E1,ada,Ada Lovelace,Employee,2024-01-01',
        'E2,bob,Bob Byte,Employee,next tuesday',
        'E3,cy,Cy Press,Contractor',
        'E4,dee,Dee Bug,Employee,2023-05-01',
        'E5,eve,Eve Ntual,Employee,2022-02-02',
      ].join('\n') + '\n',
    );
    const r = await sync('hr');
    expect(r.status).toBe(200);
    expect(sourceSyncResponseSchema.safeParse(r.json).success).toBe(true);
    expect(r.json).toMatchObject({ source: 'hr', type: 'file', synced: true, rows: 5, counts: { created: 3, updated: 0, unchanged: 0, leavers: 0 } });
    // the short row names nobody, so nobody may become a leaver by absence on this import
    expect(r.json.leaversWithheld).toMatch(/1 row\(s\) could not be tied to a person/);
    expect(r.json.warnings).toEqual([r.json.leaversWithheld]);
    expect(r.json.errors).toEqual([
      {
        file,
        line: 3,
        column: 'hireDate',
        columnIndex: 5,
        reason: expect.stringMatching(/^hireDate: /),
        externalId: 'E2',
        text: expect.stringContaining(`${file}:3: column hireDate (5): hireDate: `),
      },
      {
        file,
        line: 4,
        column: null,
        columnIndex: null,
        reason: 'expected 5 columns, found 4',
        externalId: null,
        text: `${file}:4: expected 5 columns, found 4 — row skipped`,
      },
    ]);
    expect(r.json).not.toHaveProperty('changedIds');
  });

  it('says so when an export looks truncated and nobody is made a leaver by absence', async () => {
    await writeFile(join(dir, 'hr.csv'), 'employeeId,userName,displayName,employeeType,hireDate\nE1,ada,Ada Lovelace,Employee,2024-01-01\n');
    const r = await sync('hr');
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ type: 'file', rows: 1, counts: { created: 0, updated: 0, unchanged: 1, leavers: 0 }, errors: [] });
    expect(r.json.leaversWithheld).toMatch(/looks truncated, so nobody is made a leaver by absence/);
    expect(r.json.warnings).toEqual([r.json.leaversWithheld]);
  });

  it('reports what an Entra pull found, and the removals its mass-removal guard held', async () => {
    for (let i = 1; i <= 5; i++)
      graph.upsertUser({ id: uuid(i), employeeId: `X${i}`, userPrincipalName: `u${i}@contoso.example`, displayName: `User ${i}`, accountEnabled: true });
    const first = await sync('entra');
    expect(first.status).toBe(200);
    expect(sourceSyncResponseSchema.safeParse(first.json).success).toBe(true);
    expect(first.json).toMatchObject({
      source: 'entra',
      type: 'entra',
      synced: true,
      counts: { seen: 5, created: 5, removed: 0, leavers: 0 },
      held: null,
      conflicts: [],
    });

    for (let i = 3; i <= 5; i++) graph.removeUser(uuid(i));
    graph.expireTokens(); // the next round is a full enumeration: the three are simply absent
    const second = await sync('entra');
    expect(second.status).toBe(200);
    expect(second.json).toMatchObject({
      type: 'entra',
      resynced: true,
      counts: { removed: 0, leavers: 0 },
      held: { wouldRemove: 3, total: 5, percent: 60, maxRemovalPercent: 20 },
    });
    expect(second.json.held.sample.sort()).toEqual(['X3', 'X4', 'X5']);
    expect(second.json.warnings[0]).toMatch(/3 of 5 identities \(60%\) would be removed, over maxRemovalPercent 20: removals held/);
  });

  it('answers 404 for a source that is not configured', async () => {
    const r = await sync('nope');
    expect(r.status).toBe(404);
    expect(r.json.error).toMatchObject({ code: 'not_found', field: 'source' });
  });
});
