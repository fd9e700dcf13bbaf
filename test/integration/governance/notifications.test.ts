import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { notificationsSchema } from '../../../src/config/schema.js';
import { createAccessException, createAccessRequest } from '../../../src/governance/index.js';
import { startNotifier } from '../../../src/runtime/notifications.js';
import { createTestEngine, hrPerson, type TestEngine } from '../../helpers/engine.js';
import { MAPPINGS } from '../reconcile/mappings.js';

const SECRET = 'webhook-secret-0123456789';

describe('governance webhooks (CloudEvents, HMAC-signed, retried) on PostgreSQL', () => {
  let e: TestEngine;
  let server: Server;
  let url = '';
  const received: Array<{ headers: IncomingMessage['headers']; body: string }> = [];
  let failNext = 0;
  let refuse = false;

  beforeAll(async () => {
    e = await createTestEngine('postgres', MAPPINGS, { now: '2026-06-01T08:00:00Z' });
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        if (refuse) return void res.writeHead(400).end();
        if (failNext > 0) {
          failNext--;
          return void res.writeHead(503).end();
        }
        received.push({ headers: req.headers, body });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const a = server.address();
    url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/hook`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    await e.close();
  });

  it('sends the subscribed events written after it started, signed, retrying a 503, dropping what a receiver refuses', async () => {
    const { identity } = await hrPerson(e, 'E1');
    // written before the notifier started: not sent
    await createAccessException(e.ctx, { who: identity.id, accessGroupId: 'perimeter', until: '2026-06-02', reason: 'before', actor: 'test' });
    const config = notificationsSchema.parse({ webhooks: [{ url, events: ['exception.created'], secret: SECRET }], everyMs: 3_600_000, maxAttempts: 3 });
    const n = await startNotifier({
      db: e.ctx.db,
      config,
      logger: pino({ level: 'silent' }),
      now: () => new Date('2026-06-01T08:00:00Z'),
      retryBaseMs: 1,
      retryMaxMs: 5,
    });
    try {
      failNext = 1;
      const { exception } = await createAccessException(e.ctx, {
        who: identity.id,
        accessGroupId: 'offices',
        until: '2026-06-03',
        reason: 'incident 9',
        actor: 'api:alice',
      });
      // not subscribed: not sent
      await createAccessRequest(
        e.ctx,
        { who: identity.id, accessGroup: 'power', until: '2026-06-10', justification: 'x' },
        { actor: 'api:op', names: ['op'], roles: ['operator'] },
      );
      expect(await n.tick()).toEqual({ delivered: 1, failed: 0 });
      expect(received).toHaveLength(1);
      const { headers, body } = received[0];
      expect(headers['content-type']).toBe('application/cloudevents+json');
      const ev = JSON.parse(body);
      expect(ev).toMatchObject({
        specversion: '1.0',
        type: 'io.lockstep.exception.created',
        source: 'urn:lockstep',
        subject: identity.id,
        datacontenttype: 'application/json',
        data: { actor: 'api:alice', exceptionId: exception.id, reason: 'incident 9', accessGroupId: 'offices' },
      });
      expect(ev.id).toMatch(/^audit-\d+$/);
      const expected = createHmac('sha256', SECRET).update(`${ev.id}.${headers['webhook-timestamp']}.${body}`).digest('base64');
      expect(headers['webhook-signature']).toBe(`v1,${expected}`);
      expect(headers['webhook-id']).toBe(ev.id);
      expect(await n.tick()).toEqual({ delivered: 0, failed: 0 });

      refuse = true;
      await createAccessException(e.ctx, { who: identity.id, accessGroupId: 'power', until: '2026-06-03', reason: 'refused', actor: 'api:alice' });
      expect(await n.tick()).toEqual({ delivered: 0, failed: 1 });
      refuse = false;
      expect(await n.tick()).toEqual({ delivered: 0, failed: 0 });
    } finally {
      await n.close();
    }
  });

  it('refuses a bad webhook configuration naming the field', () => {
    const r = notificationsSchema.safeParse({ webhooks: [{ url: 'ftp://x', events: ['exception.created'] }] });
    expect(r.success).toBe(false);
    expect(r.error!.issues[0].path).toEqual(['webhooks', 0, 'url']);
    const bad = notificationsSchema.safeParse({ webhooks: [{ url: 'https://hooks.example.com/x', events: ['run.exploded'] }] });
    expect(bad.error!.issues[0].path).toEqual(['webhooks', 0, 'events', 0]);
  });
});
