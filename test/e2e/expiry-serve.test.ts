import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator } from '../../connectors/simulator/index.js';
import { ServiceFixture } from '../helpers/serve.js';

/**
 * Time-based rules end to end in seconds: a mapping limit finer than a day (an ISO 8601
 * duration) grants access through `serve`, and the controller's requeue-after takes it away
 * when the window ends, with no source event and no sweep.
 */

const SCIM_TOKEN = 'scim-token-expiry-0123456789abcdef';

describe('lockstep serve: a PT4S window ends on time through the queue', () => {
  const f = new ServiceFixture({ scim: SCIM_TOKEN, admin: 'admin-token-expiry-0123456789abcdef' });
  let sim: RunningSimulator;

  beforeAll(async () => {
    await f.open();
    sim = await startSimulator({
      groups: [
        { id: 'AG-PERIM', name: 'Perimeter', doors: [] },
        { id: 'AG-VISIT', name: 'Visitor hall', doors: [] },
      ],
    });
    await f.file(
      'mappings.yaml',
      `version: 1
accessGroups:
  - { id: perimeter, system: dc1, ref: AG-PERIM, name: Perimeter, protectionClass: 1 }
  - { id: visit, system: dc1, ref: AG-VISIT, name: Visitor hall, protectionClass: 2 }
rules:
  - { id: staff, when: 'active eq true', grant: [perimeter] }
  - { id: visit, when: 'active eq true', grant: [visit], validity: { maxDuration: PT4S } }
lifecycle: { leaver: revoke }
`,
    );
    await f.start(`mappings: [./mappings.yaml]
systems:
  dc1: { type: simulator, options: { url: "${sim.url}", maxAttempts: 2 } }
queue:
  prefix: ${f.prefix}
  schedules: { fullReconcileMs: 3600000, expirySweepMs: 3600000, accessEventsMs: 3600000 }
`);
  });

  afterAll(async () => {
    await f.close();
    await sim?.close();
  });

  it('grants the visitor hall until 4 s after the grant and revokes it then, with no event', async () => {
    const res = await f.call('scim/v2', 'POST', '/Users', {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
      externalId: 'V1',
      userName: 'visitor@contoso.example',
      active: true,
    });
    expect(res.status).toBe(201);
    const groups = () =>
      sim.state
        .findByExternalId('V1')
        ?.memberships.map((m) => m.group)
        .sort() ?? [];
    const until = Date.now() + 20_000;
    while (groups().join() !== 'AG-PERIM,AG-VISIT' && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    const visit = sim.state.findByExternalId('V1')!.memberships.find((m) => m.group === 'AG-VISIT')!;
    expect(visit.until).not.toBeNull();
    const ends = Date.parse(visit.until!);
    while (groups().includes('AG-VISIT') && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect(groups()).toEqual(['AG-PERIM']);
    const revoked = sim.state.export().changes.find((c) => c.kind === 'membership.revoked' && c.group === 'AG-VISIT')!;
    // revoked when the window ended, not before
    expect(Date.parse(revoked.at)).toBeGreaterThanOrEqual(ends);
  });
});
