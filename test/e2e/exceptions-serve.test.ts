import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator } from '../../connectors/simulator/index.js';
import { eventually, ServiceFixture } from '../helpers/serve.js';

/**
 * An access exception end to end through `serve`: recording it queues the person's
 * reconciliation (the door closes at once, through the queue), and when it ends the person's
 * next check (the exception's end) gives the door back, with no event and no sweep.
 */

const SCIM_TOKEN = 'scim-token-exceptions-0123456789abcdef';
const OWNER_TOKEN = 'owner-token-exceptions-0123456789abcdef';

describe('lockstep serve: an access exception closes the door at once and gives it back when it ends', () => {
  const f = new ServiceFixture({ scim: SCIM_TOKEN, admin: 'admin-token-exceptions-0123456789abcdef' });
  let sim: RunningSimulator;

  beforeAll(async () => {
    await f.open();
    sim = await startSimulator({
      groups: [
        { id: 'AG-PERIM', name: 'Perimeter', doors: [] },
        { id: 'AG-WS', name: 'Whitespace', doors: [] },
        { id: 'AG-CAGE', name: 'Customer cage', doors: [] },
      ],
    });
    await f.file(
      'mappings.yaml',
      `version: 1
accessGroups:
  - { id: perimeter, system: dc1, ref: AG-PERIM, name: Perimeter, protectionClass: 1 }
  - { id: whitespace, system: dc1, ref: AG-WS, name: Whitespace, protectionClass: 4 }
  - { id: cage, system: dc1, ref: AG-CAGE, name: Customer cage, protectionClass: 4, owner: cage.owner }
rules:
  - { id: staff, when: 'active eq true', grant: [perimeter, whitespace] }
lifecycle: { leaver: revoke }
`,
    );
    await f.start(`mappings: [./mappings.yaml]
systems:
  dc1: { type: simulator, options: { url: "${sim.url}", maxAttempts: 2 } }
auth:
  tokens: [{ name: cage.owner, token: ${OWNER_TOKEN}, roles: [approver] }]
queue:
  prefix: ${f.prefix}
  schedules: { fullReconcileMs: 3600000, expirySweepMs: 3600000, accessEventsMs: 3600000 }
`);
  });

  afterAll(async () => {
    await f.close();
    await sim?.close();
  });

  it('revokes through the queue and grants again at the end, both in the audit log with the exception as the reason', async () => {
    const res = await f.call('scim/v2', 'POST', '/Users', {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
      externalId: 'E1',
      userName: 'ada@contoso.example',
      active: true,
    });
    expect(res.status).toBe(201);
    const groups = () =>
      sim.state
        .findByExternalId('E1')
        ?.memberships.map((m) => m.group)
        .sort()
        .join() ?? '';
    await eventually(() => groups() === 'AG-PERIM,AG-WS', 'both groups granted');

    const until = new Date(Date.now() + 4000).toISOString();
    const created = await f.call('api/v1', 'POST', '/exceptions', {
      identity: 'ada@contoso.example',
      accessGroup: 'whitespace',
      until,
      reason: 'incident 7: badge shared',
    });
    expect(created.status).toBe(201);
    expect(created.json.run).toEqual({ runId: null, queued: true });
    await eventually(() => groups() === 'AG-PERIM', 'the whitespace revoked');
    await eventually(() => groups() === 'AG-PERIM,AG-WS', 'the whitespace granted again when the exception ended');
    const granted = sim.state
      .export()
      .changes.filter((c) => c.kind === 'membership.granted' && c.group === 'AG-WS')
      .pop()!;
    // granted again when the exception ended, not before
    expect(Date.parse(granted.at)).toBeGreaterThanOrEqual(Date.parse(created.json.exception.until));

    const audit = await f.call('api/v1', 'GET', `/audit?subject=${created.json.exception.identityId}`);
    const actions = (audit.json.entries as Array<{ action: string; data: Record<string, unknown> }>).map((a) => a.action);
    expect(actions).toContain('exception.created');
    const revoke = (audit.json.entries as Array<{ action: string; data: { reason?: { cause?: string; text?: string } } }>).find(
      (a) => a.data.reason?.cause === 'exception',
    );
    expect(revoke?.data.reason?.text).toContain('incident 7: badge shared');
  });

  it('grants an approved request through the queue and takes it away when it ends', async () => {
    const groups = () =>
      sim.state
        .findByExternalId('E1')
        ?.memberships.map((m) => m.group)
        .sort()
        .join() ?? '';
    const until = new Date(Date.now() + 4000).toISOString();
    const asked = await f.call('api/v1', 'POST', '/requests', { identity: 'ada@contoso.example', accessGroup: 'cage', until, justification: 'customer visit' });
    expect(asked.status).toBe(201);
    const res = await fetch(`${f.url}/api/v1/requests/${asked.json.id}/approve`, {
      method: 'POST',
      headers: { authorization: `Bearer ${OWNER_TOKEN}`, 'content-type': 'application/json' },
      body: '{}',
    });
    const approved = (await res.json()) as { request: { status: string; validUntil: string }; run: unknown };
    expect(approved.request.status).toBe('approved');
    expect(approved.run).toEqual({ runId: null, queued: true });
    await eventually(() => groups().includes('AG-CAGE'), 'the cage granted');
    await eventually(() => !groups().includes('AG-CAGE'), 'the cage revoked when the request ended');
    const revoked = sim.state
      .export()
      .changes.filter((c) => c.kind === 'membership.revoked' && c.group === 'AG-CAGE')
      .pop()!;
    expect(Date.parse(revoked.at)).toBeGreaterThanOrEqual(Date.parse(approved.request.validUntil) - 1000);
  });
});
