import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fileSourceSchema, syncFileSource, formatRowError } from '../../../src/sources/file/index.js';
import { listIdentities, findIdentityBySourceKey } from '../../../src/store/index.js';
import { createTestStore, resetStore, storeKinds, type TestStore } from '../../helpers/db.js';

const HEADER = 'employeeId,userName,displayName,employeeType,department,groups,roles,hireDate,contractEnd,costCenter';
const row = (id: string, extra: Partial<Record<'type' | 'dept' | 'groups' | 'roles' | 'hire' | 'end', string>> = {}) =>
  `${id},${id.toLowerCase()}@example.com,Person ${id},${extra.type ?? 'Employee'},${extra.dept ?? 'Ops'},${extra.groups ?? 'DC Operations;Staff'},${extra.roles ?? ''},${extra.hire ?? '2025-01-01'},${extra.end ?? ''},CC-1`;

describe.each(storeKinds)('HR file source on %s', (kind) => {
  let s: TestStore;
  let dir: string;
  const cfg = fileSourceSchema.parse({ type: 'file', path: 'x.csv', columns: { employeeId: 'externalId' }, minRowsPercent: 50 });
  const sync = async (lines: string[], name = 'hr.csv') => {
    const path = join(dir, name);
    await writeFile(path, [HEADER, ...lines].join('\n'));
    return syncFileSource({ db: s.db, name: 'hr', config: cfg, path });
  };

  beforeAll(async () => {
    s = await createTestStore(kind);
    dir = await mkdtemp(join(tmpdir(), 'lockstep-hr-'));
  });
  afterAll(async () => {
    await s.drop();
    await rm(dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    await resetStore(s.db);
  });

  it('imports people with mapped columns, lists, roles and extra attributes', async () => {
    const r = await sync([row('E1', { roles: 'DC Technician;First Aider' }), row('E2')]);
    expect(r).toMatchObject({ created: 2, errors: [] });
    const e1 = (await findIdentityBySourceKey(s.db, 'hr', 'E1'))!;
    expect(e1.groups).toEqual(['DC Operations', 'Staff']);
    expect(e1.roles).toEqual([{ value: 'DC Technician' }, { value: 'First Aider' }]);
    expect(e1.attributes).toEqual({ costCenter: 'CC-1' });
    expect(e1.hireDate).toBe('2025-01-01');
  });

  it('reports a malformed row with file, line and column, skips it, and changes nobody else', async () => {
    await sync([row('E1'), row('E2'), row('E3')]);
    const before = await findIdentityBySourceKey(s.db, 'hr', 'E2');
    const r = await sync([row('E1', { dept: 'Security' }), row('E2', { hire: 'soon', dept: 'Changed' }), row('E3')]);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toMatchObject({ line: 3, column: 'hireDate', columnIndex: 8, externalId: 'E2' });
    expect(formatRowError(r.errors[0])).toMatch(/hr\.csv:3: column hireDate \(8\): hireDate/);
    // E2 is neither changed nor made a leaver; E1's change still lands
    const after = await findIdentityBySourceKey(s.db, 'hr', 'E2');
    expect(after).toEqual(before);
    expect(r.leavers).toBe(0);
    expect((await findIdentityBySourceKey(s.db, 'hr', 'E1'))!.department).toBe('Security');
  });

  it('makes people missing from a full export leavers', async () => {
    await sync([row('E1'), row('E2'), row('E3')]);
    const r = await sync([row('E1'), row('E3')]);
    expect(r.leavers).toBe(1);
    const left = (await listIdentities(s.db, { includeDeleted: true })).find((i) => i.externalId === 'E2')!;
    expect(left.deletedAt).not.toBeNull();
    expect(r.leaverIds).toEqual([left.id]);
  });

  it('makes nobody a leaver when the export is suspiciously small', async () => {
    await sync([row('E1'), row('E2'), row('E3'), row('E4')]);
    const r = await sync([row('E1')]);
    expect(r.leavers).toBe(0);
    expect(r.leaversWithheld).toMatch(/looks truncated/);
    expect(await listIdentities(s.db)).toHaveLength(4);
  });

  it('makes nobody a leaver when a bad row cannot be tied to a person', async () => {
    await sync([row('E1'), row('E2'), row('E3')]);
    const r = await sync([row('E1'), row('E3'), 'E2,broken']);
    expect(r.errors[0]).toMatchObject({ line: 4, message: expect.stringMatching(/expected 10 columns, found 2/) });
    expect(r.leavers).toBe(0);
    expect(r.leaversWithheld).toMatch(/could not be tied/);
  });

  it('rejects a duplicate employee id in one export, keeping the first', async () => {
    const r = await sync([row('E1', { dept: 'A' }), row('E1', { dept: 'B' })]);
    expect(r.errors[0]).toMatchObject({ line: 3, externalId: 'E1' });
    expect((await findIdentityBySourceKey(s.db, 'hr', 'E1'))!.department).toBe('A');
  });

  it('reads JSON exports too', async () => {
    const path = join(dir, 'hr.json');
    await writeFile(path, JSON.stringify([{ employeeId: 'J1', userName: 'j1', active: 'false', groups: ['X'] }]));
    const r = await syncFileSource({ db: s.db, name: 'hr', config: { ...cfg, format: 'json' }, path });
    expect(r.created).toBe(1);
    expect((await findIdentityBySourceKey(s.db, 'hr', 'J1'))!.active).toBe(false);
  });
});
