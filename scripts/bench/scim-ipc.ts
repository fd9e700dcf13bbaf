/**
 * A server the bench drives in a child process, over IPC (the SCIM servers of bench:scim, the
 * lockstep service of bench:jml). The load generator and the server under test each get
 * their own event loop: on 2 cores, one process doing both would measure the generator too.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { LockstepError } from '../../src/domain/errors.js';

export interface ChildServer<Req extends { op: string }> {
  pid: number;
  call<T>(req: Req): Promise<T>;
  /** Sends `{ op: 'close' }`, waits for the exit (3 s), then kills. Safe to call twice. */
  close(): Promise<void>;
}

/** `--cpu-prof` into `BENCH_PROFILE_DIR` (./bench-profiles) when BENCH_PROFILE names this child. */
export function profileArgs(name: string): string[] {
  const wanted = process.env.BENCH_PROFILE?.split(',') ?? [];
  return wanted.includes(name) ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR ?? 'bench-profiles'}`] : [];
}

/**
 * Forks `entry` (a .ts file next to the caller, resolved against `base`) under tsx.
 * `name` is what BENCH_PROFILE selects it by.
 */
export function forkServer<Req extends { op: string }>(
  entry: string,
  base: string,
  name: string,
  opts: { maxOldSpaceMiB?: number; env?: NodeJS.ProcessEnv } = {},
): ChildServer<Req> {
  const file = fileURLToPath(new URL(base.endsWith('.js') ? entry.replace(/\.ts$/, '.js') : entry, base));
  const child: ChildProcess = fork(file, [], {
    execArgv: ['--import', 'tsx', ...(opts.maxOldSpaceMiB ? [`--max-old-space-size=${opts.maxOldSpaceMiB}`] : []), ...profileArgs(name)],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: opts.env ?? process.env,
  });
  let seq = 0;
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  child.on('message', (m: { id: number; ok: boolean; result?: unknown; error?: string }) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.ok) p.resolve(m.result);
    else p.reject(new LockstepError('internal', `${name}: ${m.error}`));
  });
  child.on('exit', (code, signal) => {
    for (const p of pending.values()) p.reject(new LockstepError('unavailable', `${name} exited (${code ?? signal})`));
    pending.clear();
  });
  let closed = false;
  const call = <T>(req: Req): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      if (child.exitCode !== null || !child.connected) {
        reject(new LockstepError('unavailable', `${name} is not running`));
        return;
      }
      const id = ++seq;
      pending.set(id, { resolve: resolve, reject });
      child.send({ id, req });
    });
  return {
    pid: child.pid!,
    call,
    close: async () => {
      if (closed) return;
      closed = true;
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      await call({ op: 'close' } as Req).catch(() => undefined);
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

/**
 * The child's side: answers each request with `handle`; `{ op: 'close' }` runs `close` and
 * exits. The parent going away closes it too, so nothing is left listening.
 */
export function serveIpc<Req extends { op: string }>(handle: (req: Req) => Promise<unknown>, close: () => Promise<void>): void {
  const shutdown = () => {
    void close()
      .catch(() => undefined)
      .finally(() => setImmediate(() => process.exit(0)));
  };
  process.on('message', (msg: { id: number; req: Req }) => {
    if (msg.req.op === 'close') {
      process.send?.({ id: msg.id, ok: true, result: null }, () => shutdown());
      return;
    }
    void handle(msg.req).then(
      (result) => process.send?.({ id: msg.id, ok: true, result }),
      (e: unknown) => process.send?.({ id: msg.id, ok: false, error: e instanceof Error ? (e.stack ?? e.message) : String(e) }),
    );
  });
  process.on('disconnect', shutdown);
}

/** CPU time and peak RSS of this process, for the per-operation server cost. */
export interface ProcStats {
  cpuMs: number;
  peakRssMiB: number;
}

export function procStats(): ProcStats {
  const u = process.cpuUsage();
  return { cpuMs: (u.user + u.system) / 1000, peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024) };
}
