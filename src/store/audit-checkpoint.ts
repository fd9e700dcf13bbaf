import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import type { Db, Queryable } from './db.js';
import { GENESIS_HASH, sealAudit, verifyAudit, type AuditVerifyResult } from './audit.js';
import { LockstepError } from '../domain/errors.js';

/**
 * Signed checkpoints of the audit chain's head. The chain finds an entry altered, inserted or
 * removed in the middle, but the end of the log is only known from its head row: whoever can
 * write the tables can drop the last entries and set the head back, or rewrite the whole chain
 * consistently. A checkpoint (head sequence, head hash, time, Ed25519 signature) kept outside
 * the database (a file, a SIEM, a webhook) anchors the chain: every checkpoint ever written must
 * still name an entry of the log with the same hash.
 */
export const CHECKPOINT_TYPE = 'lockstep.audit.checkpoint';

export const checkpointSchema = z
  .object({
    type: z.literal(CHECKPOINT_TYPE),
    v: z.literal(1),
    /** Sequence number of the chain's head when the checkpoint was taken (0: empty log). */
    seq: z.number().int().nonnegative(),
    /** That entry's hash. */
    hash: z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 hex digest'),
    at: z.iso.datetime(),
    /** Which key signed it (see keyId). */
    keyId: z.string().regex(/^[0-9a-f]{16}$/),
    /** Ed25519 signature (base64) over signedText. */
    sig: z.string().regex(/^[A-Za-z0-9+/]+=*$/, 'base64'),
  })
  .strict();
export type Checkpoint = z.infer<typeof checkpointSchema>;

/** The bytes signed: every field but the signature, in a fixed order, so no JSON canonicalisation is involved. */
export function checkpointSignedText(c: Omit<Checkpoint, 'sig'>): string {
  return `${CHECKPOINT_TYPE}\nv=${c.v}\nseq=${c.seq}\nhash=${c.hash}\nat=${c.at}\nkey=${c.keyId}\n`;
}

/** First 16 hex digits of the sha256 of the public key (SPKI DER): names the key in a checkpoint. */
export function keyId(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return createHash('sha256')
    .update(pub.export({ type: 'spki', format: 'der' }))
    .digest('hex')
    .slice(0, 16);
}

function ed25519(key: KeyObject, what: string, field: string): KeyObject {
  if (key.asymmetricKeyType !== 'ed25519')
    throw new LockstepError('config', `${what} is a ${key.asymmetricKeyType ?? key.type} key, not Ed25519 (\`lockstep audit keygen\` writes one)`, { field });
  return key;
}

/**
 * The signing key from PEM text or base64 PKCS#8 DER. Errors name the field, never the key.
 */
export function parsePrivateKey(text: string, field = 'audit.checkpoint.key'): KeyObject {
  let key: KeyObject;
  try {
    const t = text.trim();
    key = t.startsWith('-----BEGIN') ? createPrivateKey(t) : createPrivateKey({ key: Buffer.from(t, 'base64'), format: 'der', type: 'pkcs8' });
  } catch {
    throw new LockstepError('config', `${field}: not a private key (PEM or base64 PKCS#8 DER expected)`, { field });
  }
  return ed25519(key, field, field);
}

/** A public key (SPKI PEM); a private key is accepted too and its public half used. */
export function parsePublicKey(text: string, field = 'audit.checkpoint.publicKeyFiles'): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey(text.trim());
  } catch {
    throw new LockstepError('config', `${field}: not a public key (PEM expected)`, { field });
  }
  return ed25519(key, field, field);
}

/** A new Ed25519 key pair as PEM (private PKCS#8, public SPKI). */
export function generateCheckpointKeys(): { privatePem: string; publicPem: string; keyId: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    keyId: keyId(publicKey),
  };
}

export function signCheckpoint(head: { seq: number; hash: string; at: string }, key: KeyObject): Checkpoint {
  const unsigned = { type: CHECKPOINT_TYPE, v: 1 as const, seq: head.seq, hash: head.hash, at: head.at, keyId: keyId(key) } as const;
  const sig = sign(null, Buffer.from(checkpointSignedText(unsigned)), key).toString('base64');
  return { ...unsigned, sig };
}

/** The chain's head, after sealing every committed entry (a checkpoint anchors what is committed, not what is half-chained). */
export async function auditHead(db: Db): Promise<{ seq: number; hash: string; pending: number }> {
  // a sealer that cannot run (the head row locked by a hung writer) must not stop the checkpoint: it anchors what is chained
  await sealAudit(db).catch(() => 0);
  const { rows } = await db.query<{ seq: number; hash: string; pending: number }>(
    'SELECT h.seq, h.hash, (SELECT count(*)::int FROM audit_pending) AS pending FROM audit_head h WHERE h.id = 1',
  );
  const h = rows[0];
  if (!h) throw new LockstepError('internal', 'the audit log has no head row (migration 1 creates it)');
  return { seq: Number(h.seq), hash: h.hash, pending: Number(h.pending) };
}

/** Seals, reads the head and signs it. */
export async function createCheckpoint(db: Db, key: KeyObject, now: Date = new Date()): Promise<Checkpoint> {
  const head = await auditHead(db);
  return signCheckpoint({ seq: head.seq, hash: head.hash, at: now.toISOString() }, key);
}

/** A checkpoint as one JSON line (what the file sink appends and the other sinks carry). */
export function checkpointLine(c: Checkpoint): string {
  return JSON.stringify(c);
}

export interface CheckpointProblem {
  /** 1-based line in the checkpoint input. */
  line: number;
  /** What the line claimed, when it parsed. */
  seq: number | null;
  at: string | null;
  kind: 'malformed' | 'unknown-key' | 'bad-signature' | 'truncated' | 'rewritten';
  problem: string;
}

export interface CheckpointVerifyResult {
  ok: boolean;
  /** The chain walk (altered, inserted or removed entries; a head that disagrees). */
  chain: AuditVerifyResult;
  /** Checkpoints read. */
  checkpoints: number;
  /** The newest sequence number a valid checkpoint anchors. */
  anchoredSeq: number | null;
  /** The first checkpoint (in input order) that does not hold. */
  firstBad: CheckpointProblem | null;
  /** How many do not hold. */
  bad: number;
}

/**
 * A line of checkpoint input: the JSON object starting at its first `{`, so a syslog line
 * (`<109>1 … - {…}`) exported from a SIEM reads as well as the file sink's own lines.
 */
function parseLine(text: string): { ok: true; c: Checkpoint } | { ok: false; problem: string; seq: number | null; at: string | null } {
  const start = text.indexOf('{');
  if (start < 0) return { ok: false, problem: 'no JSON object on the line', seq: null, at: null };
  let raw: unknown;
  try {
    raw = JSON.parse(text.slice(start));
  } catch (e) {
    return { ok: false, problem: `not JSON (${(e as Error).message})`, seq: null, at: null };
  }
  const r = checkpointSchema.safeParse(raw);
  if (r.success) return { ok: true, c: r.data };
  const o = (raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
  const issue = r.error.issues[0];
  return {
    ok: false,
    problem: `not a checkpoint: ${issue.path.join('.') || 'value'}: ${issue.message}`,
    seq: typeof o.seq === 'number' ? o.seq : null,
    at: typeof o.at === 'string' ? o.at : null,
  };
}

/**
 * Verifies the chain and then every checkpoint: its signature under one of the public keys,
 * and its sequence number and hash against the log. A checkpoint beyond the log's end means
 * entries were removed from the end (even when the head row was set back to match); a hash that
 * differs means the log was rewritten at or before that entry. Blank lines are skipped.
 */
export async function verifyCheckpoints(q: Queryable, input: string, publicKeys: KeyObject[]): Promise<CheckpointVerifyResult> {
  if (publicKeys.length === 0)
    throw new LockstepError('config', 'no public key to verify checkpoints with (audit.checkpoint in lockstep.yaml, or --public-key)', {
      field: 'audit.checkpoint',
    });
  const chain = await verifyAudit(q);
  const keys = new Map(publicKeys.map((k) => [keyId(k), k.type === 'private' ? createPublicKey(k) : k] as const));
  const problems: CheckpointProblem[] = [];
  const good: Array<{ line: number; c: Checkpoint }> = [];
  let count = 0;
  input.split(/\r?\n/).forEach((text, i) => {
    if (text.trim() === '') return;
    count++;
    const line = i + 1;
    const p = parseLine(text);
    if (!p.ok) return void problems.push({ line, seq: p.seq, at: p.at, kind: 'malformed', problem: p.problem });
    const c = p.c;
    const key = keys.get(c.keyId);
    if (!key)
      return void problems.push({
        line,
        seq: c.seq,
        at: c.at,
        kind: 'unknown-key',
        problem: `signed by key ${c.keyId}, which is not one of the public keys given (${[...keys.keys()].join(', ')}): forged, or signed by a key not supplied`,
      });
    let valid = false;
    try {
      valid = verify(null, Buffer.from(checkpointSignedText(c)), key, Buffer.from(c.sig, 'base64'));
    } catch {
      valid = false;
    }
    if (!valid)
      return void problems.push({
        line,
        seq: c.seq,
        at: c.at,
        kind: 'bad-signature',
        problem: `its signature does not verify with key ${c.keyId}: the checkpoint was forged or altered`,
      });
    good.push({ line, c });
  });

  const { rows: endRows } = await q.query<{ seq: number | null }>('SELECT max(seq) AS seq FROM audit_log');
  const end = endRows[0]?.seq == null ? 0 : Number(endRows[0].seq);
  const seqs = [...new Set(good.map((g) => g.c.seq).filter((s) => s > 0 && s <= end))];
  const hashes = new Map<number, string>();
  for (let i = 0; i < seqs.length; i += 1000) {
    const { rows } = await q.query<{ seq: number; hash: string }>('SELECT seq, hash FROM audit_log WHERE seq = ANY($1::bigint[])', [seqs.slice(i, i + 1000)]);
    for (const r of rows) hashes.set(Number(r.seq), r.hash);
  }
  let anchoredSeq: number | null = null;
  for (const { line, c } of good) {
    const actual = c.seq === 0 ? GENESIS_HASH : hashes.get(c.seq);
    if (c.seq > end)
      problems.push({
        line,
        seq: c.seq,
        at: c.at,
        kind: 'truncated',
        problem: `the log ends at sequence ${end}, but this checkpoint signed sequence ${c.seq} at ${c.at}: entries ${end + 1}..${c.seq} (at least) were removed from the end`,
      });
    else if (actual === undefined)
      problems.push({ line, seq: c.seq, at: c.at, kind: 'truncated', problem: `entry ${c.seq}, signed at ${c.at}, is missing from the log: it was removed` });
    else if (actual !== c.hash)
      problems.push({
        line,
        seq: c.seq,
        at: c.at,
        kind: 'rewritten',
        problem: `entry ${c.seq} has hash ${actual.slice(0, 12)}…, but the checkpoint of ${c.at} signed ${c.hash.slice(0, 12)}…: the log was rewritten at or before entry ${c.seq}`,
      });
    else anchoredSeq = Math.max(anchoredSeq ?? 0, c.seq);
  }
  problems.sort((a, b) => a.line - b.line);
  return { ok: chain.ok && problems.length === 0, chain, checkpoints: count, anchoredSeq, firstBad: problems[0] ?? null, bad: problems.length };
}
