import { LockstepError } from '../domain/errors.js';
import { getSyncState, recordCredentialUse, setSyncState } from '../store/links.js';
import type { EngineContext } from './types.js';

/**
 * Pulls access events from one lock system and keeps each credential's last use: the
 * unused-credential sweep decides on it. The cursor is stored only after the events are.
 */
export async function pullAccessEvents(ctx: EngineContext, system: string, opts: { maxPages?: number } = {}): Promise<{ events: number }> {
  const driver = ctx.drivers.get(system);
  if (!driver) throw new LockstepError('config', `no system named ${system} is configured`, { field: 'system' });
  if (driver.capabilities.accessEvents === 'none') return { events: 0 };
  const key = `events:${system}`;
  let cursor = (await getSyncState<{ cursor: string | null }>(ctx.db, key))?.cursor ?? null;
  let total = 0;
  for (let page = 0; page < (opts.maxPages ?? 50); page++) {
    const { events, cursor: next } = await driver.readAccessEvents(cursor);
    const uses = events.filter((e) => e.granted && e.credentialId).map((e) => ({ credentialId: e.credentialId!, accountId: e.accountId, at: e.at }));
    await ctx.db.transaction(async (tx) => {
      await recordCredentialUse(tx, system, uses);
      await setSyncState(tx, key, { cursor: next });
    });
    total += events.length;
    if (events.length === 0 || next === cursor) break;
    cursor = next;
  }
  return { events: total };
}
