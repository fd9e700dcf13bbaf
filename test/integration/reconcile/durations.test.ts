import { describe, expect, it } from 'vitest';
import { runReconcile } from '../../../src/reconcile/index.js';
import { upsertIdentity } from '../../../src/store/index.js';
import { storeKinds } from '../../helpers/db.js';
import { membershipsOf, useTestEngine, type TestEngine } from '../../helpers/engine.js';

/** Time-based rules in minutes and hours, as a test deployment would try them out. */
const MAPPINGS = `
version: 1
classes:
  "4": { maxValidity: PT8H, unusedCredentialAfter: PT30M }
accessGroups:
  - { id: perimeter, system: dc1, ref: AG-PERIM, name: Perimeter, protectionClass: 1 }
  - { id: whitespace, system: dc1, ref: AG-WS, name: Server whitespace, protectionClass: 4 }
rules:
  - { id: everyone, when: 'active eq true', grant: [perimeter] }
  - { id: escorted, when: 'groups eq "Escorted"', grant: [whitespace], validity: { maxDuration: PT2H } }
lifecycle: { preHire: PT1H, guard: { minRevocationsToHold: 100 } }
`;

const apply = { trigger: 'test', actor: 'test', apply: true };

describe.each(storeKinds)('durations finer than a day on %s', (kind) => {
  let e!: TestEngine;
  useTestEngine(kind, MAPPINGS, { now: '2026-06-01T08:00:00.000Z' }, (x) => (e = x));

  it('opens pre-hire access an hour early, ends it after two hours and suspends a card unused for 30 minutes', async () => {
    const { identity } = await upsertIdentity(e.ctx.db, {
      source: 'hr',
      externalId: 'E1',
      userName: 'e1',
      groups: ['Escorted'],
      hireDate: '2026-06-01T09:30:00.000Z',
    });
    const scope = { kind: 'identities' as const, ids: [identity.id] };
    const first = await runReconcile(e.ctx, scope, apply);
    // from an hour before the hire, for two hours from then
    expect(membershipsOf(e.sim, 'E1')['AG-WS']).toEqual({ from: '2026-06-01T08:30:00.000Z', until: '2026-06-01T10:30:00.000Z' });
    expect(first.nextCheckAtByIdentity[identity.id]).toBe('2026-06-01T08:30:00.000Z');

    const account = e.sim.state.findByExternalId('E1')!;
    e.sim.state.issueCredential(account.id, { type: 'card', number: '4711' });
    e.setNow('2026-06-01T08:45:00.000Z');
    const early = await runReconcile(e.ctx, scope, apply);
    // (the windows have begun: their from goes; nothing else changes yet)
    expect(early.plan.operations.map((o) => o.kind)).toEqual(['change_validity', 'change_validity']);
    expect(membershipsOf(e.sim, 'E1')['AG-WS']).toEqual({ from: null, until: '2026-06-01T10:30:00.000Z' });
    // a card never used counts from when access began (08:30): it is due for suspension at 09:00
    expect(early.nextCheckAtByIdentity[identity.id]).toBe('2026-06-01T09:00:00.000Z');

    e.setNow('2026-06-01T09:00:00.000Z');
    const unused = await runReconcile(e.ctx, scope, apply);
    const suspend = unused.plan.operations.find((o) => o.kind === 'set_credential_state')!;
    expect(suspend.reason).toMatchObject({ cause: 'unused-credential', policy: 'classes.4.unusedCredentialAfter: PT30M' });
    expect(suspend.reason.text).toBe('card 4711 never used since access began 2026-06-01T08:30:00.000Z: unused for more than PT30M');
    expect(e.sim.state.findByExternalId('E1')!.credentials[0].status).toBe('suspended');
    expect(unused.nextCheckAtByIdentity[identity.id]).toBe('2026-06-01T10:30:00.000Z');

    e.setNow('2026-06-01T10:30:00.000Z');
    const expired = await runReconcile(e.ctx, scope, apply);
    expect(expired.plan.operations.find((o) => o.kind === 'revoke')?.reason.text).toBe(
      'Server whitespace: expired 2026-06-01T10:30:00.000Z: rule escorted max PT2H from 2026-06-01T08:30:00.000Z (rule escorted)',
    );
    expect(Object.keys(membershipsOf(e.sim, 'E1'))).toEqual(['AG-PERIM']);
  });
});
