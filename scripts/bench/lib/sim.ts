import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { LockstepError } from '../../../src/domain/errors.js';
import type { SimGroup } from '../../../connectors/simulator/index.js';
import type { SeedAccount, SimRequest, SimStats } from './sim-process.js';

export type { SeedAccount };

/** The simulator lock system in a child process (see sim-process.ts for why). */
export interface SimProcess {
  url: string;
  pid: number;
  issueCards(opts?: { unmanagedGroup?: string; unmanagedShare?: number; seed?: number }): Promise<{ cards: number; unmanaged: number }>;
  drift(share: number, seed: number, keepGroups?: string[]): Promise<{ removed: number }>;
  /** Creates these accounts and memberships directly in the simulator's state; returns their ids in order. */
  seedAccounts(accounts: SeedAccount[]): Promise<string[]>;
  stats(): Promise<SimStats>;
  /** Sequence number of the latest change-log entry (GET /api/changes?after=... from there). */
  lastChange(): Promise<number>;
  close(): Promise<void>;
}

export async function startSimProcess(groups: SimGroup[], opts: { port?: number } = {}): Promise<SimProcess> {
  // .ts under tsx, .js when the benches are compiled
  const entry = fileURLToPath(new URL(`./sim-process${import.meta.url.endsWith('.js') ? '.js' : '.ts'}`, import.meta.url));
  const child: ChildProcess = fork(entry, [], { execArgv: ['--import', 'tsx', '--max-old-space-size=4096'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let seq = 0;
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  child.on('message', (m: { id: number; ok: boolean; result?: unknown; error?: string }) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.ok) p.resolve(m.result);
    else p.reject(new LockstepError('internal', `simulator process: ${m.error}`));
  });
  child.on('exit', (code) => {
    for (const p of pending.values()) p.reject(new LockstepError('unavailable', `simulator process exited (${code})`));
    pending.clear();
  });
  const call = <T>(req: SimRequest): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = ++seq;
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      child.send({ id, req });
    });
  const { url } = await call<{ url: string }>({ op: 'start', groups, port: opts.port });
  let closed = false;
  return {
    url,
    pid: child.pid!,
    issueCards: (o = {}) => call({ op: 'issueCards', ...o }),
    drift: (share, seed, keepGroups) => call({ op: 'drift', share, seed, keepGroups }),
    seedAccounts: (accounts) => call({ op: 'seedAccounts', accounts }),
    stats: () => call({ op: 'stats' }),
    lastChange: () => call({ op: 'lastChange' }),
    close: async () => {
      if (closed) return;
      closed = true;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      await call({ op: 'close' }).catch(() => undefined);
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}
