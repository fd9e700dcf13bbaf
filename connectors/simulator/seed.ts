import { readFile } from 'node:fs/promises';
import { parse as parseCsv } from 'csv-parse/sync';
import { z } from 'zod';
import { LockstepError } from '../../src/domain/errors.js';
import type { SimulatorState } from './state.js';

/**
 * A demo's starting point (`systems.NAME.embedded.seed`): the cardholders and cards a lock
 * system already holds when lockstep is connected to it, as a CSV file with the columns
 * `externalId,displayName,card,lastUsedDaysAgo,door`. Cards are issued in file order, so their
 * ids are the same on every fresh start (the first row's card is `cred-1`); a card's last use is
 * counted back from today (UTC, at 07:30), so an unused card stays unused however old the file.
 */
export const seedRowSchema = z
  .object({
    externalId: z.string().min(1),
    displayName: z.string().min(1),
    card: z.string().regex(/^\d{1,20}$/, 'a card number is digits'),
    lastUsedDaysAgo: z
      .string()
      .regex(/^(\d{1,5})?$/, 'whole days before today, or empty for a card never used')
      .transform((s) => (s === '' ? null : Number(s))),
    door: z.string().default(''),
  })
  .strict();
export type SeedRow = z.infer<typeof seedRowSchema>;

/** Reads and checks a seed file; a bad row names the file, line and column. */
export async function loadSeed(path: string): Promise<SeedRow[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new LockstepError('config', `simulator seed ${path}: ${(e as Error).message}`, { field: 'embedded.seed' });
  }
  // with info, each record comes as { record, info } (csv-parse's types do not say so)
  const records = parseCsv(text, { columns: true, skip_empty_lines: true, trim: true, info: true }) as unknown as Array<{
    record: Record<string, string>;
    info: { lines: number };
  }>;
  return records.map(({ record, info }) => {
    const r = seedRowSchema.safeParse(record);
    if (!r.success) {
      const issue = r.error.issues[0];
      throw new LockstepError('config', `${path}:${info.lines}: ${issue.path.join('.') || 'row'}: ${issue.message}`, { field: 'embedded.seed' });
    }
    return r.data;
  });
}

/** The instant `days` days before today, at 07:30 UTC (a morning swipe; always in the past for days ≥ 1). */
export function daysAgo(days: number, now: number): string {
  const today = new Date(now);
  return new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() - days, 7, 30)).toISOString();
}

/** Creates the seed's accounts and cards in an empty simulator, and each card's last use as a granted access event. */
export function applySeed(state: SimulatorState, rows: SeedRow[], now = Date.now()): { accounts: number; cards: number } {
  let cards = 0;
  for (const row of rows) {
    const account = state.findByExternalId(row.externalId) ?? state.createAccount({ externalId: row.externalId, displayName: row.displayName });
    const cred = state.issueCredential(account.id, { type: 'card', number: row.card });
    cards++;
    if (row.lastUsedDaysAgo !== null) {
      const at = daysAgo(Math.max(1, row.lastUsedDaysAgo), now);
      const group = row.door.endsWith('-door') ? row.door.slice(0, -'-door'.length) : null;
      state.recordEvent({ accountId: account.id, credentialId: cred.id, door: row.door || null, group, granted: true, at });
    }
  }
  return { accounts: state.accountCount, cards };
}
