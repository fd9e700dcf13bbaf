import { readFile } from 'node:fs/promises';
import type { z } from 'zod';
import { LockstepError } from '../domain/errors.js';
import type { DriverContext } from './contract.js';
import type { Validity } from '../domain/access.js';

/**
 * What every driver does alike around its vendor's API: its options from lockstep.yaml, secret
 * files named in them, the vendor's answers checked against the driver's schemas, opaque event
 * cursors, and bounded parallel look-ups.
 */

/** `systems.NAME.options.PATH`, the field a configuration error names. */
export function optionsField(ctx: Pick<DriverContext, 'system'>, path = ''): string {
  return path ? `systems.${ctx.system}.options.${path}` : `systems.${ctx.system}.options`;
}

/** The system's options, or a config error naming the first field that is wrong and why. */
export function parseDriverOptions<T>(schema: z.ZodType<T>, ctx: Pick<DriverContext, 'system' | 'options'>): T {
  const r = schema.safeParse(ctx.options);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const field = optionsField(ctx, issue?.path.join('.') ?? '');
  throw new LockstepError('config', `${field}: ${issue?.message}`, { field, retryable: false });
}

/** A file an option names (a password, a client secret, a CA), as text; a config error naming the option if it cannot be read. */
export async function readOptionFile(ctx: Pick<DriverContext, 'system'>, file: string, option: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    const field = optionsField(ctx, option);
    throw new LockstepError('config', `${field}: cannot read ${file}`, { field, retryable: false, cause: e });
  }
}

/** Checks the vendor's answers against the driver's schemas: an answer of another shape is an internal error naming where. */
export function responseParser(vendor: string): <T>(schema: z.ZodType<T>, body: unknown, what: string) => T {
  return <T>(schema: z.ZodType<T>, body: unknown, what: string): T => {
    const r = schema.safeParse(body);
    if (r.success) return r.data;
    const issue = r.error.issues[0];
    throw new LockstepError('internal', `unexpected ${what} response from ${vendor} at ${issue?.path.join('.') || '(root)'}: ${issue?.message}`, {
      retryable: false,
    });
  };
}

/** An opaque access-event cursor: the driver's own state as base64url JSON, checked when it comes back. */
export function cursorCodec<T>(schema: z.ZodType<T>, vendor: string): { encode(c: T): string; decode(s: string): T } {
  return {
    encode: (c) => Buffer.from(JSON.stringify(c)).toString('base64url'),
    decode: (s) => {
      try {
        return schema.parse(JSON.parse(Buffer.from(s, 'base64url').toString('utf8')));
      } catch {
        throw new LockstepError('validation', `not a${/^[aeiou]/i.test(vendor) ? 'n' : ''} ${vendor} events cursor`, { retryable: false });
      }
    },
  };
}

/** fn over items, at most `limit` at a time, results in the items' order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

/**
 * Validity windows on the account (systems with dates on the user: Openpath, KentixONE): the
 * account's window is the envelope of its groups' windows, compared to the millisecond.
 */
export function normaliseValidity(v: Validity): Validity {
  return { from: v.from ?? null, until: v.until ?? null };
}

/** The smallest window holding both (null: unbounded on that side). */
export function validityEnvelope(a: Validity, b: Validity): Validity {
  const from = a.from === null || b.from === null ? null : Date.parse(a.from) <= Date.parse(b.from) ? a.from : b.from;
  const until = a.until === null || b.until === null ? null : Date.parse(a.until) >= Date.parse(b.until) ? a.until : b.until;
  return { from, until };
}

/** The same window, instant for instant (null only equals null). */
export function sameValidity(a: Validity, b: Validity): boolean {
  const same = (x: string | null, y: string | null) => (x === null || y === null ? x === y : Date.parse(x) === Date.parse(y));
  return same(a.from, b.from) && same(a.until, b.until);
}
