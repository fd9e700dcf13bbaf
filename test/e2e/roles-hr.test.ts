import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runReconcile } from '../../src/reconcile/index.js';
import { accessReport, roleReport } from '../../src/governance/index.js';
import { fileSourceSchema, syncFileSource } from '../../src/sources/file/index.js';
import { iterateAudit } from '../../src/store/index.js';
import { createTestEngine, membershipsOf, type TestEngine } from '../helpers/engine.js';

const MAPPINGS = `
version: 1
accessGroups:
  - { id: perimeter, system: dc1, ref: AG-PERIM, name: Perimeter, protectionClass: 1 }
  - { id: power, system: dc1, ref: AG-POWER, name: Power room, protectionClass: 3 }
  - { id: cooling, system: dc1, ref: AG-COOL, name: Cooling plant, protectionClass: 3 }
roles:
  site-access: { grant: [perimeter] }
  hvac-contractor:
    grant: [cooling]
    include: [site-access]
rules:
  - { id: hvac, when: 'roles eq "HVAC Contractor"', roles: [hvac-contractor] }
`;

describe('roles from an HR export, end to end', () => {
  let e: TestEngine;
  let dir: string;
  const cfg = fileSourceSchema.parse({ type: 'file', path: 'hr.csv', columns: { employeeId: 'externalId' }, minRowsPercent: 0 });
  const importAndApply = async (rows: string[]) => {
    const path = join(dir, 'hr.csv');
    await writeFile(path, ['employeeId,userName,employeeType,roles', ...rows].join('\n'));
    const r = await syncFileSource({ db: e.ctx.db, name: 'hr', config: cfg, path });
    return runReconcile(e.ctx, { kind: 'identities', ids: r.changedIds }, { trigger: 'test', actor: 'test', apply: true });
  };

  beforeAll(async () => {
    e = await createTestEngine('pglite', MAPPINGS);
    dir = await mkdtemp(join(tmpdir(), 'lockstep-roles-'));
  });
  afterAll(async () => {
    await e.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('grants the nested bundle for a role in the roles column, with the role chain in the reasons and the audit log', async () => {
    const out = await importAndApply(['C1,carl,Contractor,HVAC Contractor;First Aider']);
    expect(Object.keys(membershipsOf(e.sim, 'C1')).sort()).toEqual(['AG-COOL', 'AG-PERIM']);
    const perim = out.plan.operations.find((o) => o.group?.ref === 'AG-PERIM')!;
    expect(perim.reason.reasons?.[0]).toMatchObject({
      rule: 'hvac',
      role: 'site-access',
      roleChain: ['hvac-contractor', 'site-access'],
      sourceRole: 'HVAC Contractor',
    });
    const audit = [];
    for await (const a of iterateAudit(e.ctx.db)) audit.push(a);
    expect(audit.some((a) => a.action === 'grant' && JSON.stringify(a.data).includes('"sourceRole":"HVAC Contractor"'))).toBe(true);
    const roles = roleReport(e.ctx, await accessReport(e.ctx));
    expect(
      roles.holders
        .filter((h) => h.userName === 'carl')
        .map((h) => h.role)
        .sort(),
    ).toEqual(['hvac-contractor', 'site-access']);
    expect(
      roles.matrix
        .filter((m) => m.role === 'hvac-contractor')
        .map((m) => m.accessGroupId)
        .sort(),
    ).toEqual(['cooling', 'perimeter']);
  });

  it('revokes the bundle in the same run when the role leaves the export', async () => {
    const out = await importAndApply(['C1,carl,Contractor,First Aider']);
    expect(
      out.plan.operations
        .filter((o) => o.kind === 'revoke')
        .map((o) => o.group!.ref)
        .sort(),
    ).toEqual(['AG-COOL', 'AG-PERIM']);
    expect(membershipsOf(e.sim, 'C1')).toEqual({});
  });
});
