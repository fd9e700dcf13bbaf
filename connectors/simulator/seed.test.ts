import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSeed, startSimulator } from './index.js';
import { daysAgo } from './seed.js';

describe('a simulator seeded with a demo site', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lockstep-seed-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('issues the example cards in file order, each last used the given days before today', async () => {
    const seed = await loadSeed(new URL('../../mappings/examples/dc1-cards.csv', import.meta.url).pathname);
    const sim = await startSimulator({ stateFile: join(dir, 'sim.json'), seed, persistDebounceMs: 0 });
    try {
      const chiara = sim.state.findByExternalId('E1003')!;
      expect(chiara.credentials).toEqual([expect.objectContaining({ id: 'cred-3', number: '101003', status: 'active', lastUsedAt: daysAgo(45, Date.now()) })]);
      expect(sim.state.findByExternalId('E1001')!.credentials[0].id).toBe('cred-1');
      // never used: no event, no last use
      expect(sim.state.findByExternalId('C3004')!.credentials[0].lastUsedAt).toBeNull();
      expect(sim.state.listEvents(null, 100).items.filter((e) => e.credentialId === 'cred-3')).toEqual([
        expect.objectContaining({ granted: true, door: 'AG-WS-door', group: 'AG-WS' }),
      ]);
      await sim.flush();
    } finally {
      await sim.close();
    }
    // a simulator that ran before keeps what it holds: nothing is seeded again
    const again = await startSimulator({ stateFile: join(dir, 'sim.json'), seed, persistDebounceMs: 0 });
    try {
      expect(again.state.findByExternalId('E1001')!.credentials).toHaveLength(1);
    } finally {
      await again.close();
    }
  });

  it('counts days back from today at 07:30 UTC, always in the past', () => {
    const now = Date.parse('2026-12-07T06:00:00Z');
    expect(daysAgo(1, now)).toBe('2026-12-06T07:30:00.000Z');
    expect(daysAgo(45, now)).toBe('2026-10-23T07:30:00.000Z');
  });

  it('names the file and line of a bad row', async () => {
    const f = join(dir, 'bad.csv');
    await writeFile(f, 'externalId,displayName,card,lastUsedDaysAgo,door\nE1,One,12a,,\n');
    await expect(loadSeed(f)).rejects.toThrow(`${f}:2: card: a card number is digits`);
  });
});
