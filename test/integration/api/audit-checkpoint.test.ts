import type { Server } from 'node:http';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../../src/api/index.js';
import { appendAudit, checkpointLine, createCheckpoint, generateCheckpointKeys } from '../../../src/store/index.js';
import { storeKinds } from '../../helpers/db.js';
import { createTestEngine, type TestEngine } from '../../helpers/engine.js';
import { MAPPINGS } from '../reconcile/mappings.js';

const TOKEN = 'admin-token-0123456789';

describe.each(storeKinds)('POST /api/v1/audit/verify with signed checkpoints on %s', (kind) => {
  const keys = generateCheckpointKeys();
  let e: TestEngine;
  let servers: Server[] = [];
  let base: string;
  let bare: string;
  const listen = async (app: ReturnType<typeof createApp>) => {
    const server = await new Promise<Server>((r) => {
      const s = app.listen(0, '127.0.0.1', () => r(s));
    });
    servers.push(server);
    const addr = server.address();
    return `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  };
  const post = async (url: string, body: unknown) => {
    const res = await fetch(`${url}/api/v1/audit/verify`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json()) as any };
  };

  beforeAll(async () => {
    e = await createTestEngine(kind, MAPPINGS);
    base = await listen(
      createApp({ ctx: e.ctx, adminTokens: [TOKEN], bodyLimitBytes: 65_536, auditCheckpointKeys: async () => [createPublicKey(keys.publicPem)] }),
    );
    bare = await listen(createApp({ ctx: e.ctx, adminTokens: [TOKEN], bodyLimitBytes: 65_536 }));
  });
  afterAll(async () => {
    for (const s of servers) await new Promise<void>((r) => s.close(() => r()));
    servers = [];
    await e.close();
  });

  it('passes an intact log, then answers 409 naming the checkpoint once the tail is removed with the head set back', async () => {
    await appendAudit(
      e.ctx.db,
      Array.from({ length: 4 }, (_, i) => ({ actor: 'test', action: 'grant', subject: `p${i}`, data: {} })),
    );
    const c = await createCheckpoint(e.ctx.db, createPrivateKey(keys.privatePem));
    const ok = await post(base, { checkpoints: `${checkpointLine(c)}\n` });
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({ ok: true, checkpoints: 1, anchoredSeq: c.seq });
    // objects work as well as JSON lines
    expect((await post(base, { checkpoints: [c] })).status).toBe(200);

    const keep = c.seq - 2;
    await e.ctx.db.query('DELETE FROM audit_log WHERE seq > $1', [keep]);
    const h = await e.ctx.db.query<{ hash: string }>('SELECT hash FROM audit_log WHERE seq = $1', [keep]);
    await e.ctx.db.query('UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1', [keep, h.rows[0].hash]);
    const chainOnly = await fetch(`${base}/api/v1/audit/verify`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(chainOnly.status).toBe(200);
    const bad = await post(base, { checkpoints: [c] });
    expect(bad.status).toBe(409);
    expect(bad.json.firstBad).toMatchObject({ line: 1, seq: c.seq, kind: 'truncated' });

    const forged = await post(base, { checkpoints: [{ ...c, seq: keep, hash: h.rows[0].hash }] });
    expect(forged.status).toBe(409);
    expect(forged.json.firstBad).toMatchObject({ kind: 'bad-signature' });
  });

  it('refuses a body without checkpoints, and a service without audit.checkpoint, with 400 naming the field', async () => {
    const missing = await post(base, {});
    expect(missing.status).toBe(400);
    expect(missing.json.error.field).toBe('checkpoints');
    const none = await post(bare, { checkpoints: '' });
    expect(none.status).toBe(400);
    expect(none.json.error.message).toMatch(/no audit\.checkpoint configured/);
  });
});
