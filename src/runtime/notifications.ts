/**
 * Governance notifications as webhooks: CloudEvents 1.0 in structured JSON mode
 * (`application/cloudevents+json`), signed with HMAC-SHA256 as Standard Webhooks do
 * (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>` over `id.timestamp.body`),
 * retried with backoff. The events are read from the audit log (what was recorded is what is
 * sent, after it committed), from the entries written after the notifier started; each event
 * keeps its id (`audit-<seq>`) across retries so receivers can drop duplicates.
 */
import { createHmac } from 'node:crypto';
import type { Logger } from 'pino';
import { NOTIFICATION_EVENTS, type NotificationsConfig } from '../config/schema.js';
import type { AuditEntry } from '../store/audit.js';
import type { Db } from '../store/db.js';
import { auditEntriesAfter, auditHeadSeq } from '../store/notifications.js';

export interface CloudEvent {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  time: string;
  subject?: string;
  datacontenttype: 'application/json';
  data: Record<string, unknown>;
}

export function cloudEventOf(e: AuditEntry, source = 'urn:lockstep'): CloudEvent {
  return {
    specversion: '1.0',
    id: `audit-${e.seq}`,
    source,
    type: `io.lockstep.${e.action}`,
    time: e.at,
    ...(e.subject ? { subject: e.subject } : {}),
    datacontenttype: 'application/json',
    data: { actor: e.actor, ...e.data },
  };
}

/** The Standard Webhooks headers for a body: `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`. */
export function signatureHeaders(id: string, body: string, secret: string, at: Date): Record<string, string> {
  const timestamp = String(Math.floor(at.getTime() / 1000));
  const sig = createHmac('sha256', secret).update(`${id}.${timestamp}.${body}`).digest('base64');
  return { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': `v1,${sig}` };
}

export interface NotifierOptions {
  db: Db;
  config: NotificationsConfig;
  logger: Logger;
  now?: () => Date;
  fetch?: typeof fetch;
  /** Backoff between attempts: base × 2^(attempt-1), capped. */
  retryBaseMs?: number;
  retryMaxMs?: number;
}

export interface Notifier {
  /** Reads new entries and delivers them (the timer calls it; tests call it directly). */
  tick(): Promise<{ delivered: number; failed: number }>;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts reading the audit log from its current head; one delivery pass at a time. */
export async function startNotifier(o: NotifierOptions): Promise<Notifier> {
  const hooks = o.config.webhooks;
  const actions = [...new Set(hooks.flatMap((h) => h.events))].filter((a) => (NOTIFICATION_EVENTS as readonly string[]).includes(a));
  const now = o.now ?? (() => new Date());
  const doFetch = o.fetch ?? fetch;
  const base = o.retryBaseMs ?? 500;
  const max = o.retryMaxMs ?? 30_000;
  let cursor = await auditHeadSeq(o.db);
  let closed = false;
  let running: Promise<{ delivered: number; failed: number }> | null = null;

  const deliver = async (hook: NotificationsConfig['webhooks'][number], ev: CloudEvent): Promise<boolean> => {
    const body = JSON.stringify(ev);
    for (let attempt = 1; attempt <= o.config.maxAttempts && !closed; attempt++) {
      try {
        const res = await doFetch(hook.url, {
          method: 'POST',
          headers: { 'content-type': 'application/cloudevents+json', ...(hook.secret ? signatureHeaders(ev.id, body, hook.secret, now()) : {}) },
          body,
          signal: AbortSignal.timeout(10_000),
        });
        if (res.ok) return true;
        // a receiver that refuses the event as such will refuse it again
        if (res.status < 500 && res.status !== 429 && res.status !== 408) {
          o.logger.warn({ url: hook.url, event: ev.id, status: res.status }, 'webhook refused the event; not retried');
          return false;
        }
        o.logger.warn({ url: hook.url, event: ev.id, status: res.status, attempt }, 'webhook failed; retrying');
      } catch (e) {
        o.logger.warn({ url: hook.url, event: ev.id, err: (e as Error).message, attempt }, 'webhook unreachable; retrying');
      }
      if (attempt < o.config.maxAttempts) await sleep(Math.min(max, base * 2 ** (attempt - 1)));
    }
    o.logger.error({ url: hook.url, event: ev.id, type: ev.type }, 'webhook: event given up after all attempts');
    return false;
  };

  const pass = async () => {
    let delivered = 0;
    let failed = 0;
    for (;;) {
      const entries = await auditEntriesAfter(o.db, cursor, actions);
      if (entries.length === 0) break;
      for (const entry of entries) {
        const ev = cloudEventOf(entry);
        const results = await Promise.all(hooks.filter((h) => (h.events as string[]).includes(entry.action)).map((h) => deliver(h, ev)));
        delivered += results.filter(Boolean).length;
        failed += results.filter((x) => !x).length;
        cursor = entry.seq;
      }
    }
    return { delivered, failed };
  };

  const tick = () => {
    running ??= pass().finally(() => (running = null));
    return running;
  };

  const timer = setInterval(() => {
    tick().catch((e) => o.logger.warn({ err: (e as Error).message }, 'webhook notifications: reading the audit log failed; trying again'));
  }, o.config.everyMs);
  timer.unref();

  return {
    tick,
    close: async () => {
      closed = true;
      clearInterval(timer);
      await running?.catch(() => undefined);
    },
  };
}
