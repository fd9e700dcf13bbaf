/** `lockstep audit`: verify the hash chain (and signed checkpoints), write a checkpoint, make its keys, export the log. */
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { LockstepError } from '../domain/errors.js';
import { loadConfig } from '../config/index.js';
import { openConfiguredStore } from '../runtime/compose.js';
import { generateCheckpointKeys, iterateAudit, verifyAudit, verifyCheckpoints, type AuditVerifyResult } from '../store/index.js';
import { EXIT, collect, err, globals, out } from './shared.js';

/** audit verify, checkpoint, keygen, export */
export function registerAuditCommands(program: Command): void {
  const audit = program.command('audit').description('the hash-chained audit log');

  audit
    .command('verify')
    .description(
      'walk the chain; names the first altered, inserted or removed entry; with --checkpoint, also checks the log against signed checkpoints (finds entries removed from the end)',
    )
    .option('--checkpoint <file>', 'signed checkpoints (JSON lines, or syslog lines carrying them); repeatable', collect, [])
    .option('--public-key <file>', 'verify checkpoints with this public key (repeatable; default: audit.checkpoint in lockstep.yaml)', collect, [])
    .option('--json', 'machine-readable result')
    .action(async (o: { checkpoint: string[]; publicKey: string[]; json?: boolean }) => {
      if (o.checkpoint.length) return verifyWithCheckpoints(o.checkpoint, o.publicKey, !!o.json);
      const db = await openConfiguredStore(process.env, { joinShared: true });
      try {
        const v = await verifyAudit(db);
        if (o.json) out(JSON.stringify(v, null, 2));
        else printChain(v);
        if (!v.ok) process.exitCode = EXIT.error;
      } finally {
        await db.close();
      }
    });
  audit
    .command('checkpoint')
    .description('seal the log, sign its head (sequence, hash, time) and write the checkpoint to the sinks of audit.checkpoint now')
    .option('--json', 'machine-readable result')
    .action(async (o: { json?: boolean }) => {
      const loaded = await loadConfig(globals().config);
      const cfg = loaded.config.audit.checkpoint;
      if (!cfg)
        throw new LockstepError('config', `${loaded.file} configures no audit.checkpoint (a signing key and at least one sink)`, { field: 'audit.checkpoint' });
      const { writeCheckpoint } = await import('../runtime/checkpoint-sinks.js');
      const db = await openConfiguredStore(process.env, { joinShared: true });
      try {
        const r = await writeCheckpoint(db, cfg, loaded);
        if (o.json) out(JSON.stringify(r, null, 2));
        else {
          out(`checkpoint of sequence ${r.checkpoint.seq} (hash ${r.checkpoint.hash}) at ${r.checkpoint.at}, key ${r.checkpoint.keyId}`);
          for (const s of r.sinks) (s.ok ? out : err)(`  ${s.sink}: ${s.ok ? 'written' : `FAILED (${s.error})`}`);
        }
        if (r.sinks.some((s) => !s.ok)) process.exitCode = EXIT.error;
      } finally {
        await db.close();
      }
    });
  audit
    .command('keygen')
    .description('write a new Ed25519 key pair for signing checkpoints: FILE (private, mode 0600) and FILE.pub')
    .option('-o, --output <file>', 'private key file', './audit-checkpoint.key')
    .option('--force', 'overwrite existing files')
    .action(async (o: { output: string; force?: boolean }) => {
      const pub = `${o.output}.pub`;
      if (!o.force) {
        for (const f of [o.output, pub])
          if (existsSync(f))
            throw new LockstepError(
              'validation',
              `${f} exists; pass --force to replace it (checkpoints signed with the old key then need its public key to verify)`,
              { field: 'output' },
            );
      }
      const k = generateCheckpointKeys();
      await mkdir(dirname(resolve(o.output)), { recursive: true, mode: 0o700 });
      // the private key never goes to stdout or a log; written 0600 from the first byte
      await writeFile(o.output, k.privatePem, { mode: 0o600, flag: o.force ? 'w' : 'wx' });
      await chmod(o.output, 0o600);
      await writeFile(pub, k.publicPem, { mode: 0o644, flag: o.force ? 'w' : 'wx' });
      out(`private key ${o.output} (mode 0600), public key ${pub}, key id ${k.keyId}`);
      out(
        `Point audit.checkpoint.keyFile at the private key; give the public key to whoever verifies (\`lockstep audit verify --checkpoint FILE --public-key ${pub}\`).`,
      );
    });
  audit
    .command('export')
    .description('write the audit log as JSON lines')
    .addOption(new Option('--format <format>', 'output format').choices(['jsonl']).default('jsonl'))
    .option('--subject <id>', 'only entries about this identity, run or account')
    .option('--since <iso>', 'only entries at or after this instant')
    .option('-o, --output <file>', 'write to a file instead of stdout')
    .action(async (o: { subject?: string; since?: string; output?: string }) => {
      const db = await openConfiguredStore(process.env, { joinShared: true });
      try {
        const lines: string[] = [];
        for await (const e of iterateAudit(db, { subject: o.subject, since: o.since })) {
          if (o.output) lines.push(JSON.stringify(e));
          else process.stdout.write(`${JSON.stringify(e)}\n`);
        }
        if (o.output) await writeFile(o.output, lines.join('\n') + (lines.length ? '\n' : ''));
      } finally {
        await db.close();
      }
    });
}

function printChain(v: AuditVerifyResult): void {
  if (v.ok) out(`audit log intact: ${v.entries} entries${v.pending ? `; ${v.pending} committed entries could not be chained yet (run again)` : ''}`);
  else err(`AUDIT LOG BROKEN at sequence ${v.firstBadSeq}: ${v.problem}`);
}

/**
 * `audit verify --checkpoint`: the chain walk, then every checkpoint of every file. Exit 6 when
 * a checkpoint does not hold (it is the stronger evidence), else 1 when the chain is broken.
 */
async function verifyWithCheckpoints(files: string[], publicKeyFiles: string[], json: boolean): Promise<void> {
  const { loadVerifyKeys } = await import('../runtime/checkpoint-sinks.js');
  let keys;
  if (publicKeyFiles.length) keys = await loadVerifyKeys({ files: publicKeyFiles });
  else {
    const loaded = await loadConfig(globals().config);
    keys = await loadVerifyKeys({ cfg: loaded.config.audit.checkpoint, base: loaded });
  }
  const texts = await Promise.all(
    files.map((f) =>
      readFile(f, 'utf8').catch((e: NodeJS.ErrnoException) => {
        throw new LockstepError('validation', `--checkpoint ${f}: cannot read it (${e.code ?? e.message})`, { field: 'checkpoint' });
      }),
    ),
  );
  const db = await openConfiguredStore(process.env, { joinShared: true });
  try {
    const results = [];
    // each file on its own, so that a line number names one line of one file
    for (const [i, text] of texts.entries()) results.push({ file: files[i], ...(await verifyCheckpoints(db, text, keys)) });
    const chain = results[0].chain;
    if (json) out(JSON.stringify({ chain, checkpoints: results.map((r) => ({ ...r, chain: undefined })) }, null, 2));
    else {
      printChain(chain);
      for (const r of results) {
        const f = r.firstBad;
        if (!f) out(`${r.file}: ${r.checkpoints} checkpoint(s) hold${r.anchoredSeq !== null ? `; the log is anchored up to sequence ${r.anchoredSeq}` : ''}`);
        else
          err(
            `CHECKPOINT DOES NOT HOLD: ${r.file}:${f.line}${f.seq !== null ? ` (sequence ${f.seq}${f.at ? `, signed ${f.at}` : ''})` : ''}: ${f.problem}${r.bad > 1 ? ` (${r.bad - 1} more bad checkpoint(s) in this file)` : ''}`,
          );
      }
    }
    if (results.some((r) => r.firstBad)) process.exitCode = EXIT.checkpoint;
    else if (!chain.ok) process.exitCode = EXIT.error;
  } finally {
    await db.close();
  }
}
