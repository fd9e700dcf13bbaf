/**
 * bench:scim's lockstep side, in a process of its own: the SCIM router as `lockstep serve`
 * mounts it (real PostgreSQL store, every committed write enqueued into BullMQ through
 * createQueues(...).onChange), without workers, so only the SCIM path is measured.
 */
import type { Server } from 'node:http';
import express from 'express';
import { LockstepError } from '../../src/domain/errors.js';
import { createQueues, type LockstepQueues } from '../../src/queue/index.js';
import { createScimRouter, scimConfigSchema, ScimService } from '../../src/sources/scim/index.js';
import { openStore, type Db } from '../../src/store/index.js';
import { procStats, serveIpc } from './scim-ipc.js';
import { scimUser } from './scim-users.js';

export type ScimServerRequest =
  | { op: 'start'; databaseUrl: string; redisUrl: string; prefix: string; token: string; poolSize: number }
  | { op: 'seed'; from: number; to: number; concurrency: number }
  | { op: 'stats' }
  | { op: 'close' };

/** A seeded user as the load generator addresses it. */
export interface SeededUser {
  id: string;
  userName: string;
}

let db: Db | null = null;
let queues: LockstepQueues | null = null;
let server: Server | null = null;

async function start(req: Extract<ScimServerRequest, { op: 'start' }>): Promise<{ url: string }> {
  db = await openStore({ databaseUrl: req.databaseUrl, poolSize: req.poolSize });
  queues = createQueues({ connection: req.redisUrl, prefix: req.prefix, db });
  // as `lockstep serve` mounts it (src/runtime/serve.ts): each write records its pending change in its own statement
  const router = createScimRouter({ db, config: scimConfigSchema.parse({ tokens: [req.token] }), onChange: queues.onChange('scim'), markPending: true });
  const app = express();
  app.disable('x-powered-by');
  app.use('/scim/v2', router);
  server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
  // autocannon keeps its connections open; the default 5 s keep-alive would cut them mid-run
  server.keepAliveTimeout = 60_000;
  const addr = server.address();
  return { url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/scim/v2` };
}

/** The same users the peer gets, written through the SCIM service (no HTTP, no enqueue: setup, not load). */
async function seed(req: Extract<ScimServerRequest, { op: 'seed' }>): Promise<SeededUser[]> {
  if (!db) throw new LockstepError('precondition', 'seed before start');
  const service = new ScimService({ db, source: 'scim' });
  const out: SeededUser[] = new Array(req.to - req.from);
  let next = req.from;
  await Promise.all(
    Array.from({ length: req.concurrency }, async () => {
      for (let i = next++; i < req.to; i = next++) {
        const body = scimUser(i);
        const r = await service.createUser(body);
        out[i - req.from] = { id: r.row.id, userName: body.userName };
      }
    }),
  );
  await db.exec('ANALYZE');
  return out;
}

serveIpc<ScimServerRequest>(
  async (req) => {
    switch (req.op) {
      case 'start':
        return start(req);
      case 'seed':
        return seed(req);
      case 'stats':
        return procStats();
      case 'close':
        return null;
    }
  },
  async () => {
    if (server) {
      const closed = new Promise<void>((r) => server!.close(() => r()));
      server.closeAllConnections();
      await closed;
    }
    await queues?.close();
    await db?.close();
  },
);
