import { createServer as createHttpServer, type IncomingHttpHeaders } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestStore, resetStore, storeKinds, type TestStore } from '../../helpers/db.js';
import {
  appendAudit,
  checkpointLine,
  checkpointSchema,
  createCheckpoint,
  entryHash,
  generateCheckpointKeys,
  iterateAudit,
  signCheckpoint,
  verifyAudit,
  verifyCheckpoints,
  type Checkpoint,
} from '../../../src/store/index.js';
import { parseConfig, type CheckpointConfig } from '../../../src/config/index.js';
import { loadVerifyKeys, writeCheckpoint } from '../../../src/runtime/checkpoint-sinks.js';

const keys = generateCheckpointKeys();
const privateKey = createPrivateKey(keys.privatePem);
const publicKey = createPublicKey(keys.publicPem);

async function addEntries(db: TestStore['db'], n: number, tag = 'x'): Promise<void> {
  await appendAudit(
    db,
    Array.from({ length: n }, (_, i) => ({ actor: 'test', action: 'grant', subject: `${tag}-${i}`, data: { group: `G${i}` } })),
  );
}

describe.each(storeKinds)('audit checkpoints on %s', (kind) => {
  let s: TestStore;
  beforeAll(async () => {
    s = await createTestStore(kind);
  });
  afterAll(async () => {
    await s.drop();
  });
  beforeEach(async () => {
    await resetStore(s.db);
  });

  it('verifies an intact chain against every checkpoint taken along it, the empty log included', async () => {
    const lines: string[] = [checkpointLine(await createCheckpoint(s.db, privateKey))];
    await addEntries(s.db, 3);
    lines.push(checkpointLine(await createCheckpoint(s.db, privateKey)));
    await addEntries(s.db, 4);
    const last = await createCheckpoint(s.db, privateKey);
    lines.push(checkpointLine(last), '');
    expect(last.seq).toBe(7);
    const v = await verifyCheckpoints(s.db, lines.join('\n'), [publicKey]);
    expect(v).toMatchObject({ ok: true, checkpoints: 3, anchoredSeq: 7, firstBad: null, bad: 0 });
    expect(v.chain.ok).toBe(true);
  });

  it('seals committed entries before it signs the head', async () => {
    await addEntries(s.db, 5);
    // no reader has sealed yet: the entries may still be in audit_pending
    const c = await createCheckpoint(s.db, privateKey);
    expect(c.seq).toBe(5);
    const head = await s.db.query<{ hash: string }>('SELECT hash FROM audit_log WHERE seq = 5');
    expect(c.hash).toBe(head.rows[0].hash);
  });

  it('finds the last entries removed and the head row set back to match: the chain alone passes, the checkpoint names itself', async () => {
    await addEntries(s.db, 4);
    const early = await createCheckpoint(s.db, privateKey);
    await addEntries(s.db, 3);
    const late = await createCheckpoint(s.db, privateKey);
    expect(late.seq).toBe(7);
    // someone with write access drops entries 6 and 7 and rewrites the head consistently
    await s.db.query('DELETE FROM audit_log WHERE seq > 5');
    const h = await s.db.query<{ hash: string }>('SELECT hash FROM audit_log WHERE seq = 5');
    await s.db.query('UPDATE audit_head SET seq = 5, hash = $1 WHERE id = 1', [h.rows[0].hash]);
    expect((await verifyAudit(s.db)).ok).toBe(true);

    const v = await verifyCheckpoints(s.db, `${checkpointLine(early)}\n${checkpointLine(late)}\n`, [publicKey]);
    expect(v.ok).toBe(false);
    expect(v.chain.ok).toBe(true);
    expect(v.anchoredSeq).toBe(4);
    expect(v.firstBad).toMatchObject({ line: 2, seq: 7, at: late.at, kind: 'truncated' });
    expect(v.firstBad!.problem).toMatch(/the log ends at sequence 5, but this checkpoint signed sequence 7 .*entries 6\.\.7/);
  });

  it('finds the tail removed and new entries appended in its place (same sequence numbers, other hashes)', async () => {
    await addEntries(s.db, 6);
    const c = await createCheckpoint(s.db, privateKey);
    await s.db.query('DELETE FROM audit_log WHERE seq > 3');
    const h = await s.db.query<{ hash: string }>('SELECT hash FROM audit_log WHERE seq = 3');
    await s.db.query('UPDATE audit_head SET seq = 3, hash = $1 WHERE id = 1', [h.rows[0].hash]);
    await addEntries(s.db, 3, 'innocent');
    expect((await verifyAudit(s.db)).ok).toBe(true);
    const v = await verifyCheckpoints(s.db, checkpointLine(c), [publicKey]);
    expect(v.firstBad).toMatchObject({ line: 1, seq: 6, kind: 'rewritten' });
    expect(v.firstBad!.problem).toMatch(/the log was rewritten at or before entry 6/);
  });

  it('finds an entry rewritten with every later hash and the head recomputed consistently', async () => {
    await addEntries(s.db, 5);
    const c = await createCheckpoint(s.db, privateKey);
    const entries = [];
    for await (const e of iterateAudit(s.db)) entries.push(e);
    // rewrite entry 2 and re-chain everything after it, as a careful attacker would
    let prev = entries[0].hash;
    for (const e of entries.slice(1)) {
      const data = e.seq === 2 ? { group: 'NOTHING-TO-SEE' } : e.data;
      const hash = entryHash(prev, { ...e, data });
      await s.db.query('UPDATE audit_log SET data = $1::jsonb, prev_hash = $2, hash = $3 WHERE seq = $4', [JSON.stringify(data), prev, hash, e.seq]);
      prev = hash;
    }
    await s.db.query('UPDATE audit_head SET hash = $1 WHERE id = 1', [prev]);
    expect((await verifyAudit(s.db)).ok).toBe(true);
    const v = await verifyCheckpoints(s.db, checkpointLine(c), [publicKey]);
    expect(v.ok).toBe(false);
    expect(v.firstBad).toMatchObject({ seq: 5, kind: 'rewritten' });
  });

  it('refuses a forged checkpoint: an edited signed line, one signed by another key under this key id, a malformed line', async () => {
    await addEntries(s.db, 3);
    const good = await createCheckpoint(s.db, privateKey);
    // the attacker truncates to 2 and forges a checkpoint that agrees
    const edited: Checkpoint = { ...good, seq: 2, hash: (await s.db.query<{ hash: string }>('SELECT hash FROM audit_log WHERE seq = 2')).rows[0].hash };
    const other = generateCheckpointKeys();
    const otherSigned = { ...signCheckpoint({ seq: good.seq, hash: good.hash, at: good.at }, createPrivateKey(other.privatePem)), keyId: good.keyId };
    const input = [checkpointLine(good), checkpointLine(edited), checkpointLine(otherSigned), '{"type":"lockstep.audit.checkpoint","seq":"3"}', 'garbage'].join(
      '\n',
    );
    const v = await verifyCheckpoints(s.db, input, [publicKey]);
    expect(v.ok).toBe(false);
    expect(v.chain.ok).toBe(true);
    expect(v.bad).toBe(4);
    expect(v.firstBad).toMatchObject({ line: 2, seq: 2, kind: 'bad-signature' });
    expect(v.firstBad!.problem).toMatch(/signature does not verify/);

    // signed by a key the verifier was not given
    const unknown = signCheckpoint({ seq: good.seq, hash: good.hash, at: good.at }, createPrivateKey(other.privatePem));
    const u = await verifyCheckpoints(s.db, checkpointLine(unknown), [publicKey]);
    expect(u.firstBad).toMatchObject({ line: 1, kind: 'unknown-key' });
    // ...and accepted with that key among those given (key rotation)
    expect((await verifyCheckpoints(s.db, `${checkpointLine(good)}\n${checkpointLine(unknown)}`, [publicKey, createPublicKey(other.publicPem)])).ok).toBe(true);
  });

  it('reads checkpoints out of RFC 5424 syslog lines as a SIEM exports them', async () => {
    await addEntries(s.db, 2);
    const c = await createCheckpoint(s.db, privateKey);
    const v = await verifyCheckpoints(s.db, `<109>1 ${c.at} host lockstep 42 checkpoint - ${checkpointLine(c)}\n`, [publicKey]);
    expect(v).toMatchObject({ ok: true, checkpoints: 1, anchoredSeq: 2 });
  });

  describe('sinks', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'lockstep-checkpoint-'));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    const verifiesAgainstLog = async (line: string) => {
      const v = await verifyCheckpoints(s.db, line, [publicKey]);
      expect(v.ok).toBe(true);
      return v;
    };

    it('appends each signed checkpoint as a JSON line to the file sink (mode 0640), keeping earlier lines', async () => {
      const cfg: CheckpointConfig = { everyMs: 0, keyFile: 'audit.key', publicKeyFiles: [], sinks: [{ type: 'file', path: 'anchors/checkpoints.jsonl' }] };
      await writeFile(join(dir, 'audit.key'), keys.privatePem, { mode: 0o600 });
      await addEntries(s.db, 2);
      const a = await writeCheckpoint(s.db, cfg, { baseDir: dir });
      await addEntries(s.db, 2);
      const b = await writeCheckpoint(s.db, cfg, { baseDir: dir });
      expect(a.sinks).toEqual([{ sink: 'file anchors/checkpoints.jsonl', ok: true }]);
      const file = join(dir, 'anchors/checkpoints.jsonl');
      const text = await readFile(file, 'utf8');
      const lines = text.trim().split('\n');
      expect(lines.map((l) => checkpointSchema.parse(JSON.parse(l)))).toEqual([a.checkpoint, b.checkpoint]);
      expect(b.checkpoint.seq).toBe(4);
      expect((await stat(file)).mode & 0o777).toBe(0o640);
      const v = await verifiesAgainstLog(text);
      expect(v.anchoredSeq).toBe(4);
      // the verifier's key from the same configuration
      const [pub] = await loadVerifyKeys({ cfg, base: { baseDir: dir } });
      expect((await verifyCheckpoints(s.db, text, [pub])).ok).toBe(true);
    });

    it('sends an RFC 5424 message over UDP to the syslog sink', async () => {
      const sock = createSocket('udp4');
      const got = new Promise<string>((resolve) => sock.once('message', (m) => resolve(m.toString('utf8'))));
      await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
      try {
        const port = sock.address().port;
        await addEntries(s.db, 3);
        const r = await writeCheckpoint(
          s.db,
          {
            everyMs: 0,
            key: keys.privatePem,
            publicKeyFiles: [],
            sinks: [{ type: 'syslog', host: '127.0.0.1', port, protocol: 'udp', facility: 13, appName: 'lockstep', hostname: 'dc1-host', timeoutMs: 2000 }],
          },
          { baseDir: dir },
        );
        expect(r.sinks).toEqual([{ sink: `syslog udp://127.0.0.1:${port}`, ok: true }]);
        const msg = await got;
        // PRI 13*8+5, version 1, timestamp, hostname, app-name, procid, msgid, no structured data, the checkpoint
        const m = /^<109>1 (\S+) dc1-host lockstep \d+ checkpoint - (\{.*\})$/.exec(msg);
        expect(m).not.toBeNull();
        expect(m![1]).toBe(r.checkpoint.at);
        expect(checkpointSchema.parse(JSON.parse(m![2]))).toEqual(r.checkpoint);
        expect(r.checkpoint.seq).toBe(3);
        await verifiesAgainstLog(msg);
      } finally {
        sock.close();
      }
    });

    it('sends an octet-counted RFC 5424 message over TCP to the syslog sink', async () => {
      let received = Buffer.alloc(0);
      let done!: () => void;
      const closed = new Promise<void>((resolve) => (done = resolve));
      const server = createTcpServer((c) => {
        c.on('data', (d: Buffer) => (received = Buffer.concat([received, d])));
        c.on('end', () => done());
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const port = (server.address() as AddressInfo).port;
        await addEntries(s.db, 1);
        const r = await writeCheckpoint(
          s.db,
          {
            everyMs: 0,
            key: keys.privatePem,
            publicKeyFiles: [],
            sinks: [{ type: 'syslog', host: '127.0.0.1', port, protocol: 'tcp', facility: 4, appName: 'lockstep', timeoutMs: 2000 }],
          },
          { baseDir: dir },
        );
        expect(r.sinks[0]).toMatchObject({ ok: true });
        await closed;
        const text = received.toString('utf8');
        const sp = text.indexOf(' ');
        const len = Number(text.slice(0, sp));
        const msg = received.subarray(sp + 1);
        expect(msg.length).toBe(len);
        expect(msg.toString('utf8')).toMatch(/^<37>1 \S+ \S+ lockstep \d+ checkpoint - \{/);
        await verifiesAgainstLog(msg.toString('utf8'));
      } finally {
        server.close();
      }
    });

    it('POSTs the signed checkpoint as JSON to the webhook sink with the configured headers, and reports a refusal', async () => {
      const requests: Array<{ method?: string; url?: string; headers: IncomingHttpHeaders; body: string }> = [];
      let status = 204;
      const server = createHttpServer((req, res) => {
        let body = '';
        req.on('data', (d: Buffer) => (body += d.toString('utf8')));
        req.on('end', () => {
          requests.push({ method: req.method, url: req.url, headers: req.headers, body });
          res.statusCode = status;
          res.end();
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const port = (server.address() as AddressInfo).port;
        const cfg: CheckpointConfig = {
          everyMs: 0,
          key: keys.privatePem,
          publicKeyFiles: [],
          sinks: [{ type: 'webhook', url: `http://127.0.0.1:${port}/anchor?token=secret`, headers: { authorization: 'Bearer hook-token' }, timeoutMs: 2000 }],
        };
        await addEntries(s.db, 2);
        const r = await writeCheckpoint(s.db, cfg, { baseDir: dir });
        expect(r.sinks).toEqual([{ sink: `webhook http://127.0.0.1:${port}/anchor`, ok: true }]);
        expect(requests).toHaveLength(1);
        expect(requests[0]).toMatchObject({ method: 'POST', url: '/anchor?token=secret' });
        expect(requests[0].headers['content-type']).toBe('application/json');
        expect(requests[0].headers.authorization).toBe('Bearer hook-token');
        expect(checkpointSchema.parse(JSON.parse(requests[0].body))).toEqual(r.checkpoint);
        await verifiesAgainstLog(requests[0].body);

        status = 503;
        const refused = await writeCheckpoint(s.db, cfg, { baseDir: dir });
        expect(refused.sinks).toEqual([{ sink: `webhook http://127.0.0.1:${port}/anchor`, ok: false, error: 'answered 503' }]);
      } finally {
        server.close();
      }
    });
  });
});

describe('audit.checkpoint in lockstep.yaml', () => {
  const base = 'mappings: [./m.yaml]\nsystems: { dc1: { type: simulator } }\n';
  it('reads sinks, the key and numbers from ${VAR}', () => {
    const c = parseConfig(
      `${base}audit:\n  checkpoint:\n    everyMs: \${CP_EVERY}\n    key: \${CP_KEY}\n    sinks:\n      - { type: file, path: ./cp.jsonl }\n      - { type: syslog, host: siem.example, port: '\${SIEM_PORT}', protocol: tcp }\n      - { type: webhook, url: 'https://anchor.example/cp', headers: { authorization: 'Bearer \${HOOK}' } }\n`,
      'lockstep.yaml',
      { CP_EVERY: '60000', CP_KEY: keys.privatePem, SIEM_PORT: '6514', HOOK: 'tok' },
    );
    expect(c.audit.checkpoint).toMatchObject({ everyMs: 60000, key: keys.privatePem, publicKeyFiles: [] });
    expect(c.audit.checkpoint!.sinks).toEqual([
      { type: 'file', path: './cp.jsonl' },
      { type: 'syslog', host: 'siem.example', port: 6514, protocol: 'tcp', facility: 13, appName: 'lockstep', timeoutMs: 10000 },
      { type: 'webhook', url: 'https://anchor.example/cp', headers: { authorization: 'Bearer tok' }, timeoutMs: 10000 },
    ]);
    expect(parseConfig(base, 'lockstep.yaml', {}).audit).toEqual({});
  });

  it('refuses a checkpoint without a key or without sinks, naming the field', () => {
    expect(() => parseConfig(`${base}audit: { checkpoint: { sinks: [{ type: file, path: x }] } }\n`, 'lockstep.yaml', {})).toThrow(
      /audit\.checkpoint\.keyFile.*keyFile or as key/,
    );
    expect(() => parseConfig(`${base}audit: { checkpoint: { keyFile: k, sinks: [] } }\n`, 'lockstep.yaml', {})).toThrow(
      /audit\.checkpoint\.sinks.*at least one sink/,
    );
  });
});
