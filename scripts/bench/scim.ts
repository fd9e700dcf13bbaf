/**
 * bench:scim — throughput and latency of lockstep's SCIM endpoint against a peer SCIM server
 * (SCIMMY + scimmy-routers with an in-memory store), in the same run, on the same machine.
 *
 * Both servers run in processes of their own and are seeded with the same `--users` users;
 * autocannon (this process) drives each operation for `--duration` seconds with
 * `--connections` connections, after a `--warmup` it does not count:
 *   list   GET /Users?filter=userName eq "…"   (a different user each request)
 *   get    GET /Users/{id}
 *   post   POST /Users                          (a new user each request)
 *   patch  PATCH /Users/{id}                    (replace displayName with a new value)
 * lockstep runs with its real stores: PostgreSQL (a database created for the run and dropped
 * after) and BullMQ on Redis (every committed write is enqueued, as `lockstep serve` does;
 * no workers run, so reconciliation does not compete for the CPU). Each operation runs
 * `--rounds` times on each server, A B A B (which goes first alternates), and the ratio is taken
 * per round. Target (issue 28): at least twice the peer's throughput on every operation, in
 * every round (issue 7's target, the peer's throughput, is the floor below it).
 *
 *   npm run bench:scim
 *   npm run bench:scim -- --rounds 3                    # A B A B A B
 *   npm run bench:scim -- --users 10000 --duration 10 --connections 10 --ops list,get,post,patch
 *   npm run bench:scim -- --no-write                    # do not append to docs/BENCHMARKS.md
 *   BENCH_PROFILE=lockstep-scim npm run bench:scim      # V8 CPU profile of lockstep's server (./bench-profiles)
 */
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { LockstepError } from '../../src/domain/errors.js';
import { peakRssMiB, publish, verdict, type Cell } from './lib/report.js';
import { createStoreSpec } from './lib/store.js';
import { CpuMeter } from './jml-cpu.js';
import { forkServer, type ChildServer, type ProcStats } from './scim-ipc.js';
import type { PeerRequest } from './peer/scimmy-server.js';
import type { ScimServerRequest, SeededUser } from './scim-server.js';
import { SCIM, scimUser } from './scim-users.js';
import { deletePrefix } from './lib/redis.js';

const { values: args } = parseArgs({
  options: {
    users: { type: 'string', default: '10000' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '10' },
    ops: { type: 'string', default: 'list,get,post,patch' },
    'pg-pool': { type: 'string', default: '10' },
    /** A B A B: each operation measured this many times on each server, alternating which goes first. */
    rounds: { type: 'string', default: '2' },
    'no-write': { type: 'boolean', default: false },
  },
});

const USERS = Number(args.users);
const DURATION = Number(args.duration);
const WARMUP = Number(args.warmup);
const CONNECTIONS = Number(args.connections);
const PG_POOL = Number(args['pg-pool']);
const ROUNDS = Math.max(1, Number(args.rounds));
/** Issue 28's goal: every operation at twice the in-memory peer's throughput, with lockstep's durable store. */
const TARGET_RATIO = 2;

/** The middle measurement by throughput (the lower middle of an even count), with its latencies. */
function medianOf(ms: Measured[]): Measured {
  const sorted = [...ms].sort((a, b) => a.rps - b.rps);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const TOKEN = `bench-${randomBytes(16).toString('hex')}`;

// ---- autocannon (no bundled types: the part of its API used here) -------------------------

interface AcRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string;
  setupRequest?: (req: AcRequest, context: Record<string, unknown>) => AcRequest;
}
interface AcStats {
  average: number;
  p50: number;
  p99: number;
  max: number;
  total: number;
}
interface AcResult {
  requests: AcStats;
  latency: AcStats;
  errors: number;
  timeouts: number;
  non2xx: number;
  duration: number;
}
type Autocannon = (opts: { url: string; connections: number; duration: number; timeout?: number; requests: AcRequest[] }) => PromiseLike<AcResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

// ---- the operations ---------------------------------------------------------------------

type OpName = 'list' | 'get' | 'post' | 'patch';
const OP_TITLES: Record<OpName, string> = {
  list: 'list with filter userName eq',
  get: 'GET by id',
  post: 'POST (create)',
  patch: 'PATCH (replace displayName)',
};

/** One server under test, with what it was seeded with and a counter for unique writes. */
interface Target {
  name: 'lockstep' | 'peer';
  url: string;
  users: SeededUser[];
  /** Requests generated so far: POSTs and PATCHes use it to never repeat a value. */
  counter: number;
  stats(): Promise<ProcStats>;
  /** lockstep's database, whose backends' CPU is counted with it. */
  database?: string;
}

const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/scim+json', accept: 'application/scim+json' };

/** Spreads consecutive requests over the users (a stride co-prime with most sizes), not in insertion order. */
const pick = (t: Target, k: number) => t.users[(k * 7919) % t.users.length];

function request(op: OpName, t: Target, base: string): AcRequest {
  const setup = (req: AcRequest): AcRequest => {
    const k = t.counter++;
    switch (op) {
      case 'list':
        return { ...req, method: 'GET', path: `${base}/Users?filter=${encodeURIComponent(`userName eq "${pick(t, k).userName}"`)}` };
      case 'get':
        return { ...req, method: 'GET', path: `${base}/Users/${pick(t, k).id}` };
      case 'post':
        return { ...req, method: 'POST', path: `${base}/Users`, body: JSON.stringify(scimUser(USERS + k)) };
      case 'patch':
        return {
          ...req,
          method: 'PATCH',
          path: `${base}/Users/${pick(t, k).id}`,
          body: JSON.stringify({ schemas: [SCIM.patchOp], Operations: [{ op: 'replace', path: 'displayName', value: `Patched ${t.name} ${k}` }] }),
        };
    }
  };
  return { headers, setupRequest: setup };
}

/** One request of each kind, checked, before any load: both servers must answer the same thing. */
async function sanity(t: Target): Promise<void> {
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${t.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, json: (text ? JSON.parse(text) : null) as Record<string, unknown> | null };
  };
  const fail = (what: string, got: unknown) => {
    throw new LockstepError('internal', `${t.name}: ${what}: ${JSON.stringify(got).slice(0, 300)}`);
  };
  const u = t.users[0];
  const list = await call('GET', `/Users?filter=${encodeURIComponent(`userName eq "${u.userName}"`)}`);
  const found = (list.json?.Resources as Array<{ id: string }> | undefined) ?? [];
  if (list.status !== 200 || found.length !== 1 || found[0].id !== u.id) fail('list with filter did not return exactly the user', list);
  const one = await call('GET', `/Users/${u.id}`);
  if (one.status !== 200 || one.json?.userName !== u.userName) fail('GET by id', one);
  const created = await call('POST', '/Users', scimUser(USERS + 10_000_000));
  if (created.status !== 201 || typeof created.json?.id !== 'string') fail('POST', created);
  const patched = await call('PATCH', `/Users/${u.id}`, {
    schemas: [SCIM.patchOp],
    Operations: [{ op: 'replace', path: 'displayName', value: 'Sanity Check' }],
  });
  if (patched.status !== 200 || patched.json?.displayName !== 'Sanity Check') fail('PATCH', patched);
  const dup = await call('POST', '/Users', scimUser(USERS + 10_000_000));
  if (dup.status !== 409) fail('a second POST of the same userName must be refused with 409', dup);
}

interface Measured {
  rps: number;
  total: number;
  p50: number;
  p99: number;
  max: number;
  bad: number;
  /** Server CPU (user + system) per request. */
  cpuMsPerReq: number;
  /** lockstep only: CPU of its PostgreSQL backends and of Redis per request (null for the peer, or without /proc). */
  pgMsPerReq: number | null;
  redisMsPerReq: number | null;
}

async function measure(op: OpName, t: Target): Promise<Measured> {
  const base = new URL(t.url).pathname;
  const url = new URL(t.url).origin;
  if (WARMUP > 0) await autocannon({ url, connections: CONNECTIONS, duration: WARMUP, requests: [request(op, t, base)] });
  const before = await t.stats();
  const meter = t.database ? new CpuMeter({}, t.database) : null;
  meter?.start();
  const r = await autocannon({ url, connections: CONNECTIONS, duration: DURATION, timeout: 30, requests: [request(op, t, base)] });
  const use = meter?.stop() ?? null;
  const after = await t.stats();
  const stores = use && r.requests.total ? use.groups : null;
  const m: Measured = {
    rps: r.requests.average,
    total: r.requests.total,
    p50: r.latency.p50,
    p99: r.latency.p99,
    max: r.latency.max,
    bad: r.non2xx + r.errors + r.timeouts,
    cpuMsPerReq: r.requests.total ? (after.cpuMs - before.cpuMs) / r.requests.total : Number.NaN,
    pgMsPerReq: stores ? (stores.postgres ?? 0) / r.requests.total : null,
    redisMsPerReq: stores ? (stores['redis (shared)'] ?? 0) / r.requests.total : null,
  };
  process.stdout.write(
    `  ${op.padEnd(5)} ${t.name.padEnd(8)} ${Math.round(m.rps)} req/s, p50 ${m.p50} ms, p99 ${m.p99} ms, non-2xx/errors ${m.bad}, server CPU ${m.cpuMsPerReq.toFixed(3)} ms/req${m.pgMsPerReq !== null ? `, PostgreSQL ${m.pgMsPerReq.toFixed(3)} ms/req, Redis ${m.redisMsPerReq!.toFixed(3)} ms/req` : ''}\n`,
  );
  return m;
}

async function main(): Promise<void> {
  const ops = args.ops.split(',').map((o) => o.trim()) as OpName[];
  for (const o of ops) if (!(o in OP_TITLES)) throw new LockstepError('validation', `--ops: unknown operation ${o} (list, get, post, patch)`, { field: 'ops' });
  const prefix = `lockstep-bench-scim-${randomBytes(4).toString('hex')}`;
  const store = await createStoreSpec('postgres');
  let lockstep: ChildServer<ScimServerRequest> | null = null;
  let peer: ChildServer<PeerRequest> | null = null;
  try {
    if (store.spec.kind !== 'postgres') throw new LockstepError('internal', 'bench:scim needs PostgreSQL');
    lockstep = forkServer<ScimServerRequest>('./scim-server.ts', import.meta.url, 'lockstep-scim', { maxOldSpaceMiB: 4096 });
    peer = forkServer<PeerRequest>('./peer/scimmy-server.ts', import.meta.url, 'peer-scim', { maxOldSpaceMiB: 4096 });
    const ls = lockstep;
    const pr = peer;
    const [lsStart, prStart] = await Promise.all([
      ls.call<{ url: string }>({ op: 'start', databaseUrl: store.spec.url, redisUrl: REDIS_URL, prefix, token: TOKEN, poolSize: PG_POOL }),
      pr.call<{ url: string }>({ op: 'start', token: TOKEN }),
    ]);
    process.stdout.write(`seeding ${USERS.toLocaleString('en-US')} users into both servers...\n`);
    const t0 = performance.now();
    const [lsUsers, prUsers] = await Promise.all([
      ls.call<SeededUser[]>({ op: 'seed', from: 0, to: USERS, concurrency: PG_POOL }).then((u) => ({ u, ms: performance.now() - t0 })),
      pr.call<SeededUser[]>({ op: 'seed', from: 0, to: USERS }).then((u) => ({ u, ms: performance.now() - t0 })),
    ]);
    process.stdout.write(`  lockstep ${(lsUsers.ms / 1000).toFixed(1)} s, peer ${(prUsers.ms / 1000).toFixed(1)} s\n`);
    const targets: Target[] = [
      {
        name: 'lockstep',
        url: lsStart.url,
        users: lsUsers.u,
        counter: 0,
        stats: () => ls.call<ProcStats>({ op: 'stats' }),
        database: new URL(store.spec.url).pathname.slice(1),
      },
      { name: 'peer', url: prStart.url, users: prUsers.u, counter: 0, stats: () => pr.call<ProcStats>({ op: 'stats' }) },
    ];
    for (const t of targets) await sanity(t);

    // A B A B: each operation ROUNDS times on each server, alternating which goes first, so
    // neither always runs on the warmer (or busier) machine; the ratio is taken per round
    const results = new Map<OpName, Record<Target['name'], Measured>>();
    const ratios = new Map<OpName, number[]>();
    for (const [i, op] of ops.entries()) {
      const runs = { lockstep: [] as Measured[], peer: [] as Measured[] };
      const perRound: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const order = (i + round) % 2 === 0 ? targets : [...targets].reverse();
        const got = {} as Record<Target['name'], Measured>;
        for (const t of order) got[t.name] = await measure(op, t);
        runs.lockstep.push(got.lockstep);
        runs.peer.push(got.peer);
        perRound.push(got.lockstep.rps / got.peer.rps);
      }
      results.set(op, { lockstep: medianOf(runs.lockstep), peer: medianOf(runs.peer) });
      ratios.set(op, perRound);
    }
    const [lsEnd, prEnd] = await Promise.all(targets.map((t) => t.stats()));

    const rows: Cell[][] = [];
    const targetRows: Cell[][] = [];
    for (const [op, r] of results) {
      const ratio = r.lockstep.rps / r.peer.rps;
      const rounds = ratios.get(op) ?? [ratio];
      const worst = Math.min(...rounds);
      rows.push([
        OP_TITLES[op],
        Math.round(r.lockstep.rps),
        r.lockstep.p50,
        r.lockstep.p99,
        Math.round(r.peer.rps),
        r.peer.p50,
        r.peer.p99,
        `${ratio.toFixed(2)}×`,
        rounds.map((x) => `${x.toFixed(2)}×`).join(' '),
        `${(r.lockstep.p99 / r.peer.p99).toFixed(2)}×`,
        Number(r.lockstep.cpuMsPerReq.toFixed(3)),
        r.lockstep.pgMsPerReq === null ? null : Number(r.lockstep.pgMsPerReq.toFixed(3)),
        r.lockstep.redisMsPerReq === null ? null : Number(r.lockstep.redisMsPerReq.toFixed(3)),
        Number(r.peer.cpuMsPerReq.toFixed(3)),
        `${r.lockstep.bad} / ${r.peer.bad}`,
      ]);
      targetRows.push([
        OP_TITLES[op],
        `lockstep req/s ≥ ${TARGET_RATIO}× peer req/s in every round`,
        `${worst.toFixed(2)}× (worst round)`,
        verdict(worst, TARGET_RATIO, false),
      ]);
    }
    await publish(
      'bench:scim',
      'bench:scim',
      [
        {
          title: `SCIM throughput and latency: lockstep (PostgreSQL + BullMQ enqueue) vs SCIMMY 1.3 + scimmy-routers (in-memory), ${USERS.toLocaleString('en-US')} users each, ${CONNECTIONS} connections, ${DURATION} s per operation (after ${WARMUP} s warm-up), ${ROUNDS} round(s) A B A B (medians shown)`,
          headers: [
            'operation',
            'lockstep req/s',
            'p50 ms',
            'p99 ms',
            'peer req/s',
            'p50 ms',
            'p99 ms',
            'req/s ratio (lockstep/peer)',
            'ratio per round',
            'p99 ratio',
            'lockstep CPU ms/req',
            '+ PostgreSQL ms/req',
            '+ Redis ms/req',
            'peer CPU ms/req',
            'non-2xx/errors (lockstep / peer)',
          ],
          rows,
          notes: [
            "req/s: autocannon's mean of per-second counts; latency percentiles from autocannon's histogram (ms). CPU ms/req: user + system CPU of the server process over the measured run divided by its requests; for lockstep, the CPU of its PostgreSQL backends and of the Redis server (shared with anything else using it) over the same run, per request (/proc).",
            `Each server and the load generator run in separate processes on the same ${cpus().length}-core machine; lockstep\'s PostgreSQL and Redis share those cores. Seeding took ${(lsUsers.ms / 1000).toFixed(1)} s (lockstep, through its SCIM service, ${PG_POOL} at once) and ${(prUsers.ms / 1000).toFixed(1)} s (peer, through SCIMMY\'s write path).`,
            `Peak RSS: lockstep server ${lsEnd.peakRssMiB} MiB, peer ${prEnd.peakRssMiB} MiB, load generator ${peakRssMiB()} MiB.`,
          ],
        },
        {
          title: `Target (issue 28): at least ${TARGET_RATIO}× the in-memory peer's throughput on every operation, in every round (issue 7's 1× is the floor below it)`,
          headers: ['operation', 'target', 'measured', 'verdict'],
          rows: targetRows,
        },
      ],
      { write: !args['no-write'] },
    );
  } finally {
    await Promise.all([lockstep?.close(), peer?.close()]);
    await store.drop().catch((e: unknown) => process.stderr.write(`could not drop the bench database: ${String(e)}\n`));
    await deletePrefix(REDIS_URL, prefix).catch((e: unknown) => process.stderr.write(`could not delete Redis keys ${prefix}:*: ${String(e)}\n`));
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:scim failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
