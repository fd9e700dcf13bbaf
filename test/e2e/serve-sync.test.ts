import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator } from '../../connectors/simulator/index.js';
import { ServiceFixture } from '../helpers/serve.js';

const ADMIN_TOKEN = 'admin-token-sync-0123456789abcdef';
const SCIM_TOKEN = 'scim-token-sync-0123456789abcdef';

describe('lockstep serve: POST /api/v1/sources/{name}/sync answers with what the import found', () => {
  const f = new ServiceFixture({ admin: ADMIN_TOKEN, scim: SCIM_TOKEN });
  let sim: RunningSimulator;
  const header = 'employeeId,userName,displayName,employeeType,hireDate';
  const rows = (n: number) => Array.from({ length: n }, (_, i) => `E${i},u${i},Person ${i},Employee,2024-01-0${(i % 9) + 1}`);
  const sync = (name: string) => f.call('api/v1', 'POST', `/sources/${name}/sync`);

  beforeAll(async () => {
    await f.open();
    sim = await startSimulator({ groups: [{ id: 'AG-PERIM', name: 'Perimeter', doors: [] }] });
    await f.file('hr.csv', [header, ...rows(5)].join('\n') + '\n');
    await f.file(
      'mappings.yaml',
      `version: 1
accessGroups:
  - { id: perimeter, system: dc1, ref: AG-PERIM, name: Perimeter, protectionClass: 1 }
rules:
  - { id: staff, when: 'active eq true', grant: [perimeter] }
`,
    );
    await f.start(`mappings: [./mappings.yaml]
systems:
  dc1: { type: simulator, options: { url: "${sim.url}", maxAttempts: 2 } }
sources:
  hr: { type: file, path: ./hr.csv, columns: { employeeId: externalId } }
queue: { prefix: ${f.prefix} }
`);
  });

  afterAll(async () => {
    await f.close();
    await sim?.close();
  });

  it('reports counts and the skipped row with its line and column', async () => {
    // the start-up import brought the five in; this export changes one and has a bad row
    const file = f.path('hr.csv');
    const next = rows(5);
    next[1] = 'E1,u1,Person One Renamed,Employee,2024-01-02';
    await f.file('hr.csv', [header, ...next, 'E9,u9,Person 9,Employee,someday'].join('\n') + '\n');
    const r = await sync('hr');
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({
      source: 'hr',
      type: 'file',
      synced: true,
      rows: 6,
      counts: { created: 0, updated: 1, unchanged: 4, leavers: 0 },
      leaversWithheld: null,
      warnings: [],
    });
    expect(r.json.errors).toEqual([expect.objectContaining({ file, line: 7, column: 'hireDate', columnIndex: 5, externalId: 'E9' })]);
  });

  it('warns that a truncated export made nobody a leaver', async () => {
    await f.file('hr.csv', [header, ...rows(1)].join('\n') + '\n');
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

  it("accepts at the SCIM edge a displayName over the configured simulator's limit (it is fitted for dc1, not refused)", async () => {
    const r = await f.call('scim/v2', 'POST', '/Users', {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
      userName: 'long@example.com',
      displayName: 'L'.repeat(600),
    });
    expect(r.status).toBe(201);
    expect(r.json.displayName).toHaveLength(600);
  });
});
