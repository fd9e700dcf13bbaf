/**
 * Writing signed audit checkpoints to where the database's writers cannot reach: an
 * append-only JSON-lines file, a syslog/SIEM collector (RFC 5424 over UDP or TCP), a webhook.
 * The key and the webhook's headers are never logged or put in an error.
 */
import { createSocket } from 'node:dgram';
import { mkdir, open, readFile } from 'node:fs/promises';
import { connect, isIPv6 } from 'node:net';
import { hostname as osHostname } from 'node:os';
import { dirname } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { createPublicKey } from 'node:crypto';
import { LockstepError } from '../domain/errors.js';
import { resolveFromConfig, type CheckpointConfig, type CheckpointSinkConfig, type LoadedConfig } from '../config/index.js';
import { checkpointLine, createCheckpoint, parsePrivateKey, parsePublicKey, type Checkpoint } from '../store/audit-checkpoint.js';
import type { Db } from '../store/db.js';

type Base = Pick<LoadedConfig, 'baseDir'>;

async function readKeyFile(path: string, field: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw new LockstepError('config', `${field}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, { field });
  }
}

/** The configured signing key (keyFile, or key from the environment). */
export async function loadSigningKey(cfg: CheckpointConfig, base: Base): Promise<KeyObject> {
  if (cfg.key !== undefined) return parsePrivateKey(cfg.key, 'audit.checkpoint.key');
  if (cfg.keyFile === undefined) throw new LockstepError('config', 'audit.checkpoint: no keyFile or key', { field: 'audit.checkpoint.keyFile' });
  return parsePrivateKey(await readKeyFile(resolveFromConfig(base, cfg.keyFile), 'audit.checkpoint.keyFile'), 'audit.checkpoint.keyFile');
}

/**
 * The keys checkpoints are verified with: the files given (`--public-key`), else the
 * configured publicKeyFiles, else the public half of the signing key.
 */
export async function loadVerifyKeys(opts: { files?: string[]; cfg?: CheckpointConfig; base?: Base }): Promise<KeyObject[]> {
  if (opts.files?.length) return Promise.all(opts.files.map(async (f) => parsePublicKey(await readKeyFile(f, '--public-key'), `--public-key ${f}`)));
  const cfg = opts.cfg;
  if (!cfg)
    throw new LockstepError('validation', 'no public key: pass --public-key FILE or configure audit.checkpoint in lockstep.yaml', { field: 'public-key' });
  const base = opts.base ?? { baseDir: process.cwd() };
  if (cfg.publicKeyFiles.length) {
    return Promise.all(
      cfg.publicKeyFiles.map(async (f, i) =>
        parsePublicKey(await readKeyFile(resolveFromConfig(base, f), `audit.checkpoint.publicKeyFiles[${i}]`), `audit.checkpoint.publicKeyFiles[${i}]`),
      ),
    );
  }
  return [createPublicKey(await loadSigningKey(cfg, base))];
}

/** RFC 5424: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG`, the checkpoint's JSON as MSG. */
export function syslogMessage(c: Checkpoint, sink: Extract<CheckpointSinkConfig, { type: 'syslog' }>): string {
  const severity = 5; // notice
  const host = (sink.hostname ?? osHostname()).replace(/[^!-~]/g, '').slice(0, 255) || '-';
  return `<${sink.facility * 8 + severity}>1 ${c.at} ${host} ${sink.appName} ${process.pid} checkpoint - ${checkpointLine(c)}`;
}

function sinkName(s: CheckpointSinkConfig): string {
  if (s.type === 'file') return `file ${s.path}`;
  if (s.type === 'syslog') return `syslog ${s.protocol}://${s.host}:${s.port}`;
  // no query string: it may carry a token
  const u = new URL(s.url);
  return `webhook ${u.origin}${u.pathname}`;
}

async function toFile(path: string, line: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  // O_APPEND: concurrent writers never overwrite each other's lines; fsync: a checkpoint reported written is on disk
  const fh = await open(path, 'a', 0o640);
  try {
    await fh.write(`${line}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function toUdp(host: string, port: number, msg: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
    sock.once('error', (e) => {
      sock.close();
      reject(e);
    });
    sock.send(Buffer.from(msg), port, host, (e) => {
      sock.close();
      if (e) reject(e);
      else resolve();
    });
  });
}

/** TCP with octet-counting framing (RFC 6587 §3.4.1): `LEN SP MSG`. */
function toTcp(host: string, port: number, msg: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const body = Buffer.from(msg);
    const sock = connect({ host, port });
    const fail = (e: Error) => {
      sock.destroy();
      reject(e);
    };
    sock.setTimeout(timeoutMs, () => fail(new Error(`no answer within ${timeoutMs} ms`)));
    sock.once('error', fail);
    sock.once('connect', () => {
      sock.end(Buffer.concat([Buffer.from(`${body.length} `), body]));
    });
    sock.once('finish', () => {
      sock.destroy();
      resolve();
    });
  });
}

async function toWebhook(s: Extract<CheckpointSinkConfig, { type: 'webhook' }>, c: Checkpoint): Promise<void> {
  const res = await fetch(s.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'user-agent': 'lockstep-audit-checkpoint', ...s.headers },
    body: checkpointLine(c),
    signal: AbortSignal.timeout(s.timeoutMs),
  });
  await res.arrayBuffer().catch(() => undefined);
  if (!res.ok) throw new Error(`answered ${res.status}`);
}

export interface SinkResult {
  sink: string;
  ok: boolean;
  error?: string;
}

export async function sendCheckpoint(c: Checkpoint, sinks: CheckpointSinkConfig[], base: Base): Promise<SinkResult[]> {
  // every sink is tried: one collector down must not keep the checkpoint from the others
  return Promise.all(
    sinks.map(async (s): Promise<SinkResult> => {
      const sink = sinkName(s);
      try {
        if (s.type === 'file') await toFile(resolveFromConfig(base, s.path), checkpointLine(c));
        else if (s.type === 'syslog') {
          const msg = syslogMessage(c, s);
          await (s.protocol === 'udp' ? toUdp(s.host, s.port, msg) : toTcp(s.host, s.port, msg, s.timeoutMs));
        } else await toWebhook(s, c);
        return { sink, ok: true };
      } catch (e) {
        const err = e as Error & { code?: string; cause?: { code?: string } };
        return { sink, ok: false, error: err.name === 'TimeoutError' ? 'timed out' : (err.code ?? err.cause?.code ?? err.message) };
      }
    }),
  );
}

export interface CheckpointWritten {
  checkpoint: Checkpoint;
  sinks: SinkResult[];
}

/** Seals the log, signs its head and sends the checkpoint to every sink. */
export async function writeCheckpoint(db: Db, cfg: CheckpointConfig, base: Base, opts: { now?: Date; key?: KeyObject } = {}): Promise<CheckpointWritten> {
  const key = opts.key ?? (await loadSigningKey(cfg, base));
  const checkpoint = await createCheckpoint(db, key, opts.now ?? new Date());
  return { checkpoint, sinks: await sendCheckpoint(checkpoint, cfg.sinks, base) };
}

/**
 * The timer's job: like writeCheckpoint, but a sink that did not take the checkpoint fails the
 * job (it is retried, and shows in the queue's failed jobs and metrics). The key is read once,
 * here: a missing or wrong key stops the service at start, not at the first timer.
 */
export async function checkpointJob(
  db: Db,
  cfg: CheckpointConfig,
  base: Base,
  logger?: { info(o: object, m?: string): void; warn(o: object, m?: string): void },
): Promise<() => Promise<{ seq: number; hash: string; sinks: number }>> {
  const key = await loadSigningKey(cfg, base);
  return async () => {
    const r = await writeCheckpoint(db, cfg, base, { key });
    const failed = r.sinks.filter((s) => !s.ok);
    if (failed.length) {
      logger?.warn({ seq: r.checkpoint.seq, failed: failed.map((f) => `${f.sink}: ${f.error}`) }, 'audit checkpoint not written to every sink');
      throw new LockstepError('unavailable', `audit checkpoint ${r.checkpoint.seq}: ${failed.map((f) => `${f.sink}: ${f.error}`).join('; ')}`, {
        retryable: true,
      });
    }
    logger?.info({ seq: r.checkpoint.seq, hash: r.checkpoint.hash, sinks: r.sinks.length }, 'audit checkpoint written');
    return { seq: r.checkpoint.seq, hash: r.checkpoint.hash, sinks: r.sinks.length };
  };
}
