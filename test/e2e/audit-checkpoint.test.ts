import { execFile } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtemp, readFile, rm, stat, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStore, type TestStore } from '../helpers/db.js';
import { appendAudit, sealAudit } from '../../src/store/index.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');

// each command is a fresh Node process compiling TypeScript through tsx: seconds apiece
describe('lockstep audit keygen / checkpoint / verify --checkpoint', { timeout: 180_000 }, () => {
  let dir: string;
  let store: TestStore;
  let udp: Socket;
  const received: string[] = [];
  const cli = async (...args: string[]) => {
    try {
      const r = await run(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli.ts'), '--config', join(dir, 'lockstep.yaml'), ...args], {
        cwd: ROOT,
        env: { ...process.env, DATABASE_URL: store.url!, LOCKSTEP_DATA_DIR: join(dir, 'data'), LOG_LEVEL: 'error', NO_COLOR: '1' },
        timeout: 60_000,
      });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (e) {
      const x = e as { code: number; stdout: string; stderr: string };
      return { code: x.code, stdout: x.stdout, stderr: x.stderr };
    }
  };
  const entries = async (n: number) => {
    await appendAudit(
      store.db,
      Array.from({ length: n }, (_, i) => ({ actor: 'test', action: 'grant', subject: `p${i}`, data: { group: `G${i}` } })),
    );
    await sealAudit(store.db);
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lockstep-cp-'));
    store = await createTestStore('postgres');
    udp = createSocket('udp4');
    udp.on('message', (m) => received.push(m.toString('utf8')));
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
    await copyFile(join(ROOT, 'mappings/examples/datacenter.yaml'), join(dir, 'datacenter.yaml'));
    await writeFile(
      join(dir, 'lockstep.yaml'),
      `mappings: [./datacenter.yaml]
systems:
  dc1: { type: simulator }
audit:
  checkpoint:
    everyMs: 0
    keyFile: ./keys/checkpoint.key
    sinks:
      - { type: file, path: ./anchors/checkpoints.jsonl }
      - { type: syslog, host: 127.0.0.1, port: ${udp.address().port}, protocol: udp }
`,
    );
  });
  afterAll(async () => {
    udp.close();
    await store.drop();
    await rm(dir, { recursive: true, force: true });
  });

  it('generates a key pair with a private key only its owner can read, and never prints it', async () => {
    const g = await cli('audit', 'keygen', '-o', join(dir, 'keys/checkpoint.key'));
    expect(g.code).toBe(0);
    expect(g.stdout).toMatch(/key id [0-9a-f]{16}/);
    expect((await stat(join(dir, 'keys/checkpoint.key'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'keys'))).mode & 0o777).toBe(0o700);
    const priv = await readFile(join(dir, 'keys/checkpoint.key'), 'utf8');
    expect(priv).toMatch(/BEGIN PRIVATE KEY/);
    expect(await readFile(join(dir, 'keys/checkpoint.key.pub'), 'utf8')).toMatch(/BEGIN PUBLIC KEY/);
    const body = priv.split('\n')[1];
    expect(g.stdout + g.stderr).not.toContain(body);
    const again = await cli('audit', 'keygen', '-o', join(dir, 'keys/checkpoint.key'));
    expect(again.code).toBe(5);
    expect(again.stderr).toMatch(/exists; pass --force/);
    expect(await readFile(join(dir, 'keys/checkpoint.key'), 'utf8')).toBe(priv);
  });

  it('writes a checkpoint to the file and syslog sinks, and verify --checkpoint passes on an intact log', async () => {
    await entries(5);
    const c = await cli('audit', 'checkpoint');
    expect(c.code).toBe(0);
    expect(c.stdout).toMatch(/checkpoint of sequence 5 \(hash [0-9a-f]{64}\)/);
    expect(c.stdout).toMatch(/file \.\/anchors\/checkpoints\.jsonl: written/);
    expect(c.stdout).toMatch(/syslog udp:\/\/127\.0\.0\.1:\d+: written/);
    const lines = (await readFile(join(dir, 'anchors/checkpoints.jsonl'), 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0])).toMatchObject({ type: 'lockstep.audit.checkpoint', seq: 5 });
    await expect.poll(() => received.length).toBe(1);
    expect(received[0]).toMatch(/^<109>1 \S+ \S+ lockstep \d+ checkpoint - /);
    expect(received[0]).toContain(lines[0]);

    const v = await cli('audit', 'verify', '--checkpoint', join(dir, 'anchors/checkpoints.jsonl'));
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/audit log intact: 5 entries/);
    expect(v.stdout).toMatch(/1 checkpoint\(s\) hold; the log is anchored up to sequence 5/);
    // what the SIEM received verifies as well, with the public key alone
    await writeFile(join(dir, 'siem.log'), `${received[0]}\n`);
    const s = await cli('audit', 'verify', '--checkpoint', join(dir, 'siem.log'), '--public-key', join(dir, 'keys/checkpoint.key.pub'));
    expect(s.code).toBe(0);
  });

  it('exits 6 naming the checkpoint when the last entries were removed and the head set back to match', async () => {
    await entries(2);
    expect((await cli('audit', 'checkpoint')).code).toBe(0);
    await store.db.query('DELETE FROM audit_log WHERE seq > 5');
    const h = await store.db.query<{ hash: string }>('SELECT hash FROM audit_log WHERE seq = 5');
    await store.db.query('UPDATE audit_head SET seq = 5, hash = $1 WHERE id = 1', [h.rows[0].hash]);
    // the chain alone cannot tell
    const plain = await cli('audit', 'verify');
    expect(plain.code).toBe(0);
    const v = await cli('audit', 'verify', '--checkpoint', join(dir, 'anchors/checkpoints.jsonl'), '--public-key', join(dir, 'keys/checkpoint.key.pub'));
    expect(v.code).toBe(6);
    expect(v.stderr).toMatch(
      /CHECKPOINT DOES NOT HOLD: \S+checkpoints\.jsonl:2 \(sequence 7, signed \S+\): the log ends at sequence 5, but this checkpoint signed sequence 7/,
    );
  });

  it('exits 6 on a forged checkpoint line', async () => {
    const lines = (await readFile(join(dir, 'anchors/checkpoints.jsonl'), 'utf8')).trim().split('\n');
    const first = JSON.parse(lines[0]) as { seq: number; hash: string };
    const h = await store.db.query<{ hash: string }>('SELECT hash FROM audit_log WHERE seq = 4');
    await writeFile(join(dir, 'forged.jsonl'), `${lines[0]}\n${JSON.stringify({ ...first, seq: 4, hash: h.rows[0].hash })}\n`);
    const v = await cli('audit', 'verify', '--checkpoint', join(dir, 'forged.jsonl'));
    expect(v.code).toBe(6);
    expect(v.stderr).toMatch(/forged\.jsonl:2 \(sequence 4, signed \S+\): its signature does not verify/);
    const json = await cli('audit', 'verify', '--checkpoint', join(dir, 'forged.jsonl'), '--json');
    expect(json.code).toBe(6);
    expect(JSON.parse(json.stdout).checkpoints[0].firstBad).toMatchObject({ line: 2, kind: 'bad-signature' });
  });
});
