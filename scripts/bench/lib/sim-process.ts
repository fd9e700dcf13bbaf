/**
 * The simulator lock system in its own process, driven over IPC by the benches (lib/sim.ts).
 * A real lock system is another machine: running it here, rather than in lockstep's process,
 * keeps its JSON encoding and request handling off lockstep's event loop (on 2 cores each
 * side gets roughly one). The IPC channel lets the bench seed and inspect its state directly,
 * which over HTTP would take longer than the thing being measured.
 */
import { startSimulator, type RunningSimulator } from '../../../connectors/simulator/index.js';
import type { SimAccount, SimGroup } from '../../../connectors/simulator/index.js';
import type { Paged } from '../../../connectors/simulator/state.js';
import { rng } from './estate.js';

export type SimRequest =
  | { op: 'start'; groups: SimGroup[]; port?: number; maxChanges?: number }
  | { op: 'issueCards'; unmanagedGroup?: string; unmanagedShare?: number; seed?: number }
  | { op: 'drift'; share: number; seed: number; keepGroups?: string[] }
  | { op: 'seedAccounts'; accounts: SeedAccount[] }
  | { op: 'stats' }
  | { op: 'lastChange' }
  | { op: 'close' };

/** An account as the bench seeds it directly (what lockstep would have created). */
export interface SeedAccount {
  externalId: string;
  displayName: string;
  email: string | null;
  memberships: Array<{ group: string; from: string | null; until: string | null }>;
}

export interface SimStats {
  accounts: number;
  memberships: number;
  credentials: number;
  suspended: number;
  peakRssMiB: number;
}

let sim: RunningSimulator | null = null;

function* allAccounts(s: RunningSimulator) {
  let after: string | null = null;
  do {
    const page: Paged<SimAccount> = s.state.listAccounts(after, 1000);
    yield* page.items;
    after = page.next;
  } while (after);
}

async function handle(req: SimRequest): Promise<unknown> {
  switch (req.op) {
    case 'start': {
      sim = await startSimulator({ groups: req.groups, port: req.port ?? 0, maxChanges: req.maxChanges ?? 2_000_000, maxEvents: 200_000 });
      return { url: sim.url };
    }
    case 'issueCards': {
      // One card per cardholder, used just now (so the unused-credential sweep has nothing to
      // suspend), and a hand-managed membership on some: what a live system looks like.
      const s = need();
      const r = rng(req.seed ?? 1);
      let cards = 0;
      let unmanaged = 0;
      for (const a of [...allAccounts(s)]) {
        if (a.credentials.length === 0) {
          const c = s.state.issueCredential(a.id, { type: 'card' });
          s.state.recordEvent({ accountId: a.id, credentialId: c.id, group: null, granted: true });
          cards++;
        }
        if (req.unmanagedGroup && r() < (req.unmanagedShare ?? 0)) {
          s.state.putMembership(a.id, req.unmanagedGroup, {});
          unmanaged++;
        }
      }
      return { cards, unmanaged };
    }
    case 'drift': {
      // Someone removed a membership by hand in the lock system's own UI.
      const s = need();
      const r = rng(req.seed);
      const keep = new Set(req.keepGroups ?? []);
      let removed = 0;
      for (const a of [...allAccounts(s)]) {
        if (r() >= req.share) continue;
        const m = a.memberships.find((x) => !keep.has(x.group));
        if (m && s.state.deleteMembership(a.id, m.group)) removed++;
      }
      return { removed };
    }
    case 'seedAccounts': {
      const s = need();
      const ids: string[] = [];
      for (const a of req.accounts) {
        const acc = s.state.createAccount({ externalId: a.externalId, displayName: a.displayName, email: a.email });
        for (const m of a.memberships) s.state.putMembership(acc.id, m.group, { from: m.from, until: m.until });
        ids.push(acc.id);
      }
      return ids;
    }
    case 'stats': {
      const s = need();
      const st: SimStats = { accounts: 0, memberships: 0, credentials: 0, suspended: 0, peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024) };
      for (const a of allAccounts(s)) {
        st.accounts++;
        st.memberships += a.memberships.length;
        st.credentials += a.credentials.length;
        if (a.state === 'suspended') st.suspended++;
      }
      return st;
    }
    case 'lastChange': {
      const s = need();
      let after: string | null = null;
      for (;;) {
        const page = s.state.listChanges(after, 100_000);
        if (page.items.length === 0) return Number(page.next);
        after = page.next;
      }
    }
    case 'close': {
      await sim?.close();
      sim = null;
      setImmediate(() => process.exit(0));
      return null;
    }
  }
}

function need(): RunningSimulator {
  if (!sim) throw new Error('simulator not started');
  return sim;
}

process.on('message', (msg: { id: number; req: SimRequest }) => {
  void handle(msg.req).then(
    (result) => process.send?.({ id: msg.id, ok: true, result }),
    (e: unknown) => process.send?.({ id: msg.id, ok: false, error: e instanceof Error ? e.message : String(e) }),
  );
});
// the parent going away must not leave a simulator listening
process.on('disconnect', () => {
  void (sim?.close() ?? Promise.resolve()).finally(() => process.exit(0));
});
