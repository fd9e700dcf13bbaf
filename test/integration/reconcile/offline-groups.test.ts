/**
 * Issue 23: offline doors in an otherwise online system. A site that runs CLIQ cylinders and
 * Aperio locks under one host declares the CLIQ doors' access group with `offline:
 * { revalidationDays }`: a revocation of that group reports when the holder's keys learn it
 * (plan, explain's offlinePending, the access report), and one of an online group does not.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runReconcile } from '../../../src/reconcile/index.js';
import { accessReport, explainIdentity } from '../../../src/governance/index.js';
import { upsertIdentity } from '../../../src/store/index.js';
import { createTestEngine, type TestEngine } from '../../helpers/engine.js';

const MAPPINGS = `
version: 1
accessGroups:
  - { id: aperio-office, system: dc1, ref: AG-APERIO, name: Aperio office doors, protectionClass: 1 }
  - { id: cliq-cabinets, system: dc1, ref: AG-CLIQ, name: CLIQ cabinets, protectionClass: 2, offline: { revalidationDays: 7 } }
rules:
  - { id: staff, when: 'active eq true', grant: [aperio-office] }
  - { id: techs, when: 'groups eq "Technicians"', grant: [cliq-cabinets] }
lifecycle: { leaver: suspend }
`;
const apply = { trigger: 'test', actor: 'test', apply: true };

describe('an access group of offline doors in an online system', () => {
  let e: TestEngine;
  beforeAll(async () => {
    e = await createTestEngine('pglite', MAPPINGS);
  });
  afterAll(async () => {
    await e.close();
  });

  it('says when the revoked CLIQ key stops opening, and nothing of the kind for the online doors', async () => {
    const { identity } = await upsertIdentity(e.ctx.db, {
      source: 'hr',
      externalId: 'T1',
      userName: 'tech1',
      displayName: 'Tech One',
      groups: ['Technicians'],
    });
    await runReconcile(e.ctx, { kind: 'full' }, apply);
    const account = e.sim.state.findByExternalId('T1')!;
    e.sim.state.issueCredential(account.id, {});
    // moved out of the technicians: the CLIQ group goes, the Aperio doors stay
    await upsertIdentity(e.ctx.db, { source: 'hr', externalId: 'T1', userName: 'tech1', displayName: 'Tech One', groups: [] });
    const moved = await runReconcile(e.ctx, { kind: 'identities', ids: [identity.id] }, apply);
    const revoke = moved.plan.operations.find((o) => o.kind === 'revoke')!;
    expect(revoke.group?.ref).toBe('AG-CLIQ');
    const days = (Date.parse(revoke.learnedBy!) - e.ctx.now().getTime()) / 86_400_000;
    expect(days).toBeCloseTo(7, 3);
    const x = await explainIdentity(e.ctx, 'tech1');
    expect(x.offlinePending).toHaveLength(1);
    expect(x.offlinePending[0]).toMatchObject({ groupRef: 'AG-CLIQ', learnedBy: revoke.learnedBy });
    const report = await accessReport(e.ctx);
    expect(report.some((r) => (r as { stillOnKeysUntil?: string }).stillOnKeysUntil === revoke.learnedBy)).toBe(true);

    // a leaver: the Aperio doors' revocation learns nothing offline, the account's suspension does
    await upsertIdentity(e.ctx.db, { source: 'hr', externalId: 'T1', userName: 'tech1', displayName: 'Tech One', groups: ['Technicians'] });
    await runReconcile(e.ctx, { kind: 'identities', ids: [identity.id] }, apply);
    await upsertIdentity(e.ctx.db, { source: 'hr', externalId: 'T1', userName: 'tech1', displayName: 'Tech One', groups: ['Technicians'], active: false });
    const left = await runReconcile(e.ctx, { kind: 'identities', ids: [identity.id] }, apply);
    const byKind = Object.fromEntries(left.plan.operations.map((o) => [`${o.kind}:${o.group?.ref ?? ''}`, o.learnedBy ?? null]));
    expect(byKind['revoke:AG-APERIO'] ?? null).toBeNull();
    expect(byKind['suspend_account:']).toBeTruthy();
  });
});
