/**
 * Diagnostics for bench:jml (BENCH_COUNT=1): how many SQL statements and Redis commands the
 * service sends, by statement. Counting round trips tells where an event's time goes on a
 * machine where every round trip to PostgreSQL or Redis costs a context switch. The wrappers
 * only count; nothing about the calls changes.
 */
import pg from 'pg';
import { Redis } from 'ioredis';

export interface Counters {
  sql: Record<string, number>;
  redis: Record<string, number>;
}

const sql = new Map<string, number>();
const redis = new Map<string, number>();
let installed = false;

function sqlKey(text: string): string {
  return text.replace(/\s+/g, ' ').trim().slice(0, 90);
}

export function installCounters(): void {
  if (installed) return;
  installed = true;
  const query = pg.Client.prototype.query as (...a: unknown[]) => unknown;
  (pg.Client.prototype as unknown as { query: (...a: unknown[]) => unknown }).query = function (this: pg.Client, ...a: unknown[]) {
    const first = a[0];
    const text = typeof first === 'string' ? first : typeof first === 'object' && first && 'text' in first ? String(first.text) : '?';
    const k = sqlKey(text);
    sql.set(k, (sql.get(k) ?? 0) + 1);
    return query.apply(this, a);
  };
  const proto = Redis.prototype as unknown as { sendCommand: (cmd: { name: string; args: unknown[] }, ...rest: unknown[]) => unknown };
  const send = proto.sendCommand;
  proto.sendCommand = function (this: unknown, cmd, ...rest) {
    // BullMQ's Lua scripts run through evalsha: the script is named by its first key's suffix
    const k = cmd.name === 'evalsha' || cmd.name === 'eval' ? `${cmd.name} ${String(cmd.args[2] ?? '').replace(/^.*:/, '…:')}` : cmd.name;
    redis.set(k, (redis.get(k) ?? 0) + 1);
    return send.call(this, cmd, ...rest);
  };
}

/** The counts since the last call (then reset). */
export function takeCounters(): Counters {
  const out = { sql: Object.fromEntries(sql), redis: Object.fromEntries(redis) };
  sql.clear();
  redis.clear();
  return out;
}
