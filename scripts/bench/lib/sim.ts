import type { SimGroup } from '../../../connectors/simulator/index.js';
import { forkServer } from '../scim-ipc.js';
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
  // BENCH_PROFILE=simulator profiles it
  const child = forkServer<SimRequest>('./sim-process.ts', import.meta.url, 'simulator', { maxOldSpaceMiB: 4096 });
  const call = <T>(req: SimRequest): Promise<T> => child.call<T>(req);
  const { url } = await call<{ url: string }>({ op: 'start', groups, port: opts.port });
  return {
    url,
    pid: child.pid,
    issueCards: (o = {}) => call({ op: 'issueCards', ...o }),
    drift: (share, seed, keepGroups) => call({ op: 'drift', share, seed, keepGroups }),
    seedAccounts: (accounts) => call({ op: 'seedAccounts', accounts }),
    stats: () => call({ op: 'stats' }),
    lastChange: () => call({ op: 'lastChange' }),
    close: () => child.close(),
  };
}
