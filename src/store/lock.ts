/**
 * The embedded store's exclusive lock. PGlite is PostgreSQL in one process: a second process
 * opening the same data directory does not share it, it corrupts it (its writes are invisible
 * to the first, or PGlite aborts). So whoever opens a PGlite directory first holds
 * `<dir>.lock`, naming its pid, host, command and (for `lockstep serve`) its admin API, and
 * everyone else is refused at once with a StoreInUseError that says whom to ask instead.
 *
 * A holder that shares its store (serve: see share.ts) records the directory of its socket in
 * `share`; a CLI command that finds such a lock connects there instead of being refused.
 *
 * The lock file is made complete and then linked into place (link fails if the name exists),
 * so a reader never sees half a record. A lock whose process is gone is stale and taken over:
 * on the same host, when its pid is not running (or is running but started at another time: a
 * reused pid); from another host (a shared volume, a container recreated with a new hostname),
 * when its holder has not touched it for STALE_REMOTE_MS (holders touch it every HEARTBEAT_MS).
 */
import { closeSync, linkSync, openSync, readFileSync, renameSync, statSync, unlinkSync, utimesSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, isAbsolute, relative, resolve } from 'node:path';
import { LockstepError } from '../domain/errors.js';

/** Who this process is, as the lock file tells the processes it refuses. */
export interface StoreHolder {
  /** What runs, e.g. `lockstep serve`. */
  command: string;
  /** Where to go instead of opening the store: the serving process's admin API. */
  adminUrl?: string | null;
}

export interface StoreLockRecord extends StoreHolder {
  /** The directory of the Unix socket this holder shares the store on (share.ts), or null. */
  share?: string | null;
  pid: number;
  hostname: string;
  /** The process's start time (Linux clock ticks since boot), to tell a reused pid from the holder. */
  processStart: string | null;
  dataDir: string;
  lockedAt: string;
}

export interface StoreLock {
  readonly file: string;
  /** Records (or clears) the socket directory the store is shared on. */
  share(socketDir: string | null): void;
  release(): void;
}

function defaultCommand(): string {
  const [, script, ...args] = process.argv;
  return [script ? basename(script) : 'node', ...args].join(' ');
}

const HEARTBEAT_MS = 10_000;
const STALE_REMOTE_MS = 60_000;

let holder: StoreHolder = { command: defaultCommand() };
/** Lock files this process holds, with what they say. */
const held = new Map<string, StoreLockRecord>();
let exitHook = false;
let heartbeat: NodeJS.Timeout | null = null;

/** Touches every held lock, so other hosts can tell a live holder from a dead one. */
function beat(): void {
  const now = new Date();
  for (const file of held.keys()) {
    try {
      utimesSync(file, now, now);
    } catch {
      /* removed under us: the next acquire elsewhere decides */
    }
  }
}

export function storeLockFile(dataDir: string): string {
  return `${resolve(dataDir)}.lock`;
}

/**
 * Says who this process is (the CLI: which command; serve: its admin API once it listens).
 * Locks already held are rewritten, so a process refused from now on is told.
 */
export function describeStoreHolder(h: Partial<StoreHolder>): void {
  holder = { ...holder, ...h };
  for (const [file, rec] of held) rewrite(file, { ...rec, command: holder.command, adminUrl: holder.adminUrl ?? null });
}

/** Replaces a held lock's record in one step (rename), so a reader never sees half of one. */
function rewrite(file: string, next: StoreLockRecord): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    writeRecord(tmp, next);
    renameSync(tmp, file);
    held.set(file, next);
  } catch {
    // the lock still holds with what it said before; only the description is older
    try {
      unlinkSync(tmp);
    } catch {
      /* not written */
    }
  }
}

function writeRecord(path: string, rec: StoreLockRecord): void {
  const fd = openSync(path, 'w', 0o644);
  try {
    writeSync(fd, `${JSON.stringify(rec, null, 2)}\n`);
  } finally {
    closeSync(fd);
  }
}

/** Field 22 of /proc/<pid>/stat (after the command name, which may hold spaces and parentheses). */
function processStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether the record's process is gone: by its pid on this host, by the lock's age from another. */
function stale(rec: StoreLockRecord, file: string, mtimeMs: number): boolean {
  if (rec.hostname !== hostname()) return Date.now() - mtimeMs > STALE_REMOTE_MS;
  if (rec.pid === process.pid) return !held.has(file);
  if (!running(rec.pid)) return true;
  const start = processStart(rec.pid);
  return rec.processStart !== null && start !== null && start !== rec.processStart;
}

function readLock(file: string): { raw: string; rec: StoreLockRecord | null; mtimeMs: number } | null {
  let raw: string;
  let mtimeMs: number;
  try {
    raw = readFileSync(file, 'utf8');
    mtimeMs = statSync(file).mtimeMs;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    const rec = JSON.parse(raw) as StoreLockRecord;
    return { raw, mtimeMs, rec: typeof rec?.pid === 'number' && typeof rec.hostname === 'string' ? rec : null };
  } catch {
    return { raw, mtimeMs, rec: null };
  }
}

function shownPath(dir: string): string {
  const rel = relative(process.cwd(), dir);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? `./${rel}` : dir;
}

/** The embedded store is held by another process (or already open in this one). */
export class StoreInUseError extends LockstepError {
  constructor(
    readonly dataDir: string,
    readonly lockFile: string,
    readonly holder: StoreLockRecord | null,
    /** Why the holder's shared socket could not be used, when it has one and it was tried. */
    readonly shareProblem: string | null = null,
  ) {
    super('precondition', StoreInUseError.explain(dataDir, lockFile, holder, shareProblem), {
      field: 'LOCKSTEP_DATA_DIR',
      retryable: false,
      details: { dataDir, lockFile, holder, shareProblem },
    });
    this.name = 'StoreInUseError';
  }

  private static explain(dataDir: string, lockFile: string, h: StoreLockRecord | null, shareProblem: string | null): string {
    const store = `the embedded store ${shownPath(dataDir)}`;
    const share = 'set DATABASE_URL to share a PostgreSQL store (PGlite is single-process)';
    if (!h) return `${store} is locked by ${lockFile}, which cannot be read; if no lockstep process uses it, delete that file, or ${share}`;
    if (h.pid === process.pid && h.hostname === hostname()) return `${store} is already open in this process (${h.command}); close it first`;
    const who = `${h.command} (pid ${h.pid}${h.hostname !== hostname() ? ` on ${h.hostname}` : ''})${shareProblem ? `, and the store it shares at ${h.share} could not be used (${shareProblem})` : ''}`;
    const instead = h.adminUrl ? `use its admin API at ${h.adminUrl} or ${share}` : `stop it first, or ${share}`;
    const remote = h.hostname !== hostname() ? `; it is taken over once ${STALE_REMOTE_MS / 1000} s pass without its holder refreshing ${lockFile}` : '';
    return `${store} is in use by ${who}; ${instead}${remote}`;
  }
}

/**
 * Takes the lock of a PGlite data directory, or throws StoreInUseError naming its holder.
 * Released by release(), and at the latest when this process exits normally.
 */
export function acquireStoreLock(dataDir: string): StoreLock {
  const dir = resolve(dataDir);
  const file = storeLockFile(dir);
  for (let attempt = 0; attempt < 5; attempt++) {
    const rec: StoreLockRecord = {
      pid: process.pid,
      hostname: hostname(),
      processStart: processStart(process.pid),
      command: holder.command,
      adminUrl: holder.adminUrl ?? null,
      share: null,
      dataDir: dir,
      lockedAt: new Date().toISOString(),
    };
    const tmp = `${file}.${process.pid}.tmp`;
    writeRecord(tmp, rec);
    try {
      linkSync(tmp, file);
      held.set(file, rec);
      if (!exitHook) {
        exitHook = true;
        process.once('exit', releaseAll);
      }
      if (!heartbeat) {
        heartbeat = setInterval(beat, HEARTBEAT_MS);
        heartbeat.unref();
      }
      return {
        file,
        share: (socketDir) => {
          const cur = held.get(file);
          if (cur) rewrite(file, { ...cur, share: socketDir });
        },
        release: () => release(file),
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    } finally {
      unlinkSync(tmp);
    }
    const other = readLock(file);
    if (!other) continue; // released meanwhile
    if (!other.rec || !stale(other.rec, file, other.mtimeMs)) throw new StoreInUseError(dir, file, other.rec);
    // Stale: remove it, unless it changed since it was read (another process took it over first).
    if (readLock(file)?.raw === other.raw) {
      try {
        unlinkSync(file);
      } catch {
        /* gone already */
      }
    }
  }
  throw new StoreInUseError(dir, file, readLock(file)?.rec ?? null);
}

function release(file: string): void {
  if (!held.delete(file)) return;
  if (held.size === 0 && heartbeat) {
    clearInterval(heartbeat);
    heartbeat = null;
  }
  // only our own record: a lock taken over after ours was (wrongly) found stale stays
  if (readLock(file)?.rec?.pid !== process.pid) return;
  try {
    unlinkSync(file);
  } catch {
    /* gone already */
  }
}

function releaseAll(): void {
  for (const file of [...held.keys()]) release(file);
}
