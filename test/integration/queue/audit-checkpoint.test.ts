import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPublicKey } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createQueues, schedulesFromConfig, startSchedulers, startWorkers } from '../../../src/queue/index.js';
import { appendAudit, generateCheckpointKeys, verifyCheckpoints } from '../../../src/store/index.js';
import { checkpointJob } from '../../../src/runtime/checkpoint-sinks.js';
import { parseConfig, type CheckpointConfig } from '../../../src/config/index.js';
import type { TestStore } from '../../helpers/db.js';
import { REDIS_URL, createQueueTestStore, deleteKeys, emptyOutcome, uniquePrefix, waitFor } from './helpers.js';

describe('audit-checkpoint timer', () => {
  let store: TestStore;
  let dir: string;
  beforeAll(async () => {
    store = await createQueueTestStore();
    dir = await mkdtemp(join(tmpdir(), 'lockstep-cp-timer-'));
  });
  afterAll(async () => {
    await store.drop();
    await rm(dir, { recursive: true, force: true });
  });

  it('takes audit.checkpoint.everyMs from lockstep.yaml, and schedules nothing without it', () => {
    const base = 'mappings: [./m.yaml]\nsystems: { dc1: { type: simulator } }\n';
    const withCp = parseConfig(`${base}audit: { checkpoint: { everyMs: 120000, keyFile: k, sinks: [{ type: file, path: cp.jsonl }] } }\n`, 'lockstep.yaml', {});
    expect(schedulesFromConfig(withCp).auditCheckpointMs).toBe(120_000);
    expect(schedulesFromConfig(parseConfig(base, 'lockstep.yaml', {})).auditCheckpointMs).toBe(0);
  });

  it('writes a signed checkpoint of the head to the sinks on every tick of the maintenance timer', async () => {
    const keys = generateCheckpointKeys();
    const cfg: CheckpointConfig = { everyMs: 300, key: keys.privatePem, publicKeyFiles: [], sinks: [{ type: 'file', path: 'checkpoints.jsonl' }] };
    const prefix = uniquePrefix('cp');
    const queues = createQueues({ connection: REDIS_URL, prefix, db: store.db });
    const workers = await startWorkers({
      queues,
      db: store.db,
      handlers: { reconcile: async () => emptyOutcome(), auditCheckpoint: await checkpointJob(store.db, cfg, { baseDir: dir }) },
      systems: [],
    });
    try {
      await workers.ready();
      await appendAudit(store.db, [{ actor: 'test', action: 'grant', subject: 'p1', data: {} }]);
      const hour = 3_600_000;
      await startSchedulers({
        queues,
        schedules: { fullReconcileMs: hour, expirySweepMs: hour, accessEventsMs: hour },
        systems: [],
        outboxFlushMs: 0,
        auditCheckpointMs: cfg.everyMs,
      });
      expect((await queues.maintenance.getJobSchedulers(0, -1)).map((s) => s.key)).toContain('audit-checkpoint');
      const file = join(dir, 'checkpoints.jsonl');
      const first = await waitFor(async () => (await readFile(file, 'utf8').catch(() => '')).trim().split('\n').filter(Boolean)[0], 'a first checkpoint');
      await appendAudit(store.db, [{ actor: 'test', action: 'revoke', subject: 'p1', data: {} }]);
      const text = await waitFor(async () => {
        const t = await readFile(file, 'utf8');
        return t.includes('"seq":2') ? t : null;
      }, 'a checkpoint of the second entry');
      expect(JSON.parse(first)).toMatchObject({ type: 'lockstep.audit.checkpoint', seq: 1 });
      const v = await verifyCheckpoints(store.db, text, [createPublicKey(keys.publicPem)]);
      expect(v).toMatchObject({ ok: true, anchoredSeq: 2, bad: 0 });
    } finally {
      await workers.close();
      await queues.close();
      await deleteKeys(prefix);
    }
  });
});
