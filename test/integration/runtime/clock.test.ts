import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, type LoadedConfig } from '../../../src/config/load.js';
import { createEngine } from '../../../src/runtime/compose.js';
import { createTestStore, type TestStore } from '../../helpers/db.js';

describe('the engine clock of createEngine', () => {
  let dir: string;
  let store: TestStore;
  let loaded: LoadedConfig;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lockstep-clock-'));
    const mappings = join(dir, 'mappings.yaml');
    await writeFile(mappings, 'version: 1\n');
    const file = join(dir, 'lockstep.yaml');
    loaded = { config: parseConfig(`mappings: ${JSON.stringify(mappings)}\nsystems: {}\n`, file, {}), file, baseDir: dir, mappingPaths: [mappings] };
    store = await createTestStore('pglite');
  });
  afterAll(async () => {
    await store.drop();
    await rm(dir, { recursive: true, force: true });
  });

  it('reads LOCKSTEP_CLOCK_OFFSET from the environment and warns that it is active', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (s: string) => void lines.push(s) });
    const engine = await createEngine(loaded, { logger, db: store.db, env: { LOCKSTEP_CLOCK_OFFSET: 'PT2H' } });
    try {
      expect(Math.abs(engine.ctx.now().getTime() - (Date.now() + 7_200_000))).toBeLessThan(1000);
      expect(lines.some((l) => /LOCKSTEP_CLOCK_OFFSET is set/.test(l) && JSON.parse(l).level === 40)).toBe(true);
    } finally {
      await engine.close();
    }
  });

  it('refuses to start in production mode with an offset', async () => {
    await expect(
      createEngine(loaded, { logger: pino({ level: 'silent' }), db: store.db, env: { LOCKSTEP_CLOCK_OFFSET: 'P3D', NODE_ENV: 'production' } }),
    ).rejects.toMatchObject({
      code: 'config',
      field: 'LOCKSTEP_CLOCK_OFFSET',
    });
  });

  it('uses the machine clock without an offset', async () => {
    const engine = await createEngine(loaded, { logger: pino({ level: 'silent' }), db: store.db, env: { NODE_ENV: 'production' } });
    expect(Math.abs(engine.ctx.now().getTime() - Date.now())).toBeLessThan(1000);
    await engine.close();
  });
});
