/**
 * bench:reconcile — full reconciliation of a large estate against the simulator lock system.
 *
 * Per case (store:size[:direct|engine]): N identities (bulk insert) and the lock system to match, then
 *   1. seeding: `direct` (default) writes the accounts, memberships, links and anchors lockstep
 *      would have created straight into the simulator and the store; `engine` has a full run
 *      create them through the driver instead (every joiner at once, ~6 operations a person:
 *      apply throughput of an initial load);
 *   2. cards issued in the lock system (each used just now) and hand-managed memberships added;
 *   3. steady state: a full run that must change nothing, `--steady-runs` times in one process:
 *      the first cold (a service just started), the rest warm (a service's later full runs, which
 *      find everyone's unchanged evaluation remembered: policy/evaluation-memo.ts);
 *   4. churn: 0.5% joiners, 0.5% leavers and 0.5% movers in the store, memberships of 0.5% of
 *      the accounts removed by hand in the lock system; a full run puts it right (plan + apply);
 *   5. the service's path (up to --service-path-max identities): the queue's full-run job
 *      (reconcileFull: the same plan, applied under leases a partition of `bucketSize` at a time).
 * The engine is called directly (no queue, no rate limiter): this measures lockstep's own cost.
 * Each phase runs in a process of its own, so its peak RSS is its own and not the seeding's
 * or the previous phase's; the store and the simulator process outlive the phases.
 *
 *   npm run bench:reconcile                               # postgres 10k (engine), postgres 100k, pglite 10k
 *   npm run bench:reconcile -- --cases postgres:100000    # one case
 *   npm run bench:reconcile -- --cases postgres:10000:engine,pglite:10000:engine
 *   npm run bench:reconcile -- --no-write                 # do not append to docs/BENCHMARKS.md
 *   npm run bench:reconcile -- --steady-runs 5            # one cold and four warm steady-state runs
 *   npm run bench:reconcile -- --steady-gap 0             # back to back (default: 10 s idle between them, as a service is)
 *   BENCH_PROFILE=steady npm run bench:reconcile -- ...   # V8 CPU profile of a phase (./bench-profiles)
 *   BENCH_NODE_FLAGS=--max-semi-space-size=64 npm run bench:reconcile -- ...   # V8 flags for the phases
 *   BENCH_NODE_FLAGS=--expose-gc npm run bench:reconcile -- ...   # the heap kept between runs, after a full GC
 *   BENCH_KEEP_STORE=1 npm run bench:reconcile -- ...     # keep the PostgreSQL database (EXPLAIN its queries)
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { createConfiguredDriver } from '../../src/runtime/drivers.js';
import type { LockDriver } from '../../src/drivers/contract.js';
import { parseMappings } from '../../src/policy/index.js';
import { runReconcile, type EngineContext, type RunOutcome, type Scope } from '../../src/reconcile/index.js';
import { localLeases, reconcileFull } from '../../src/queue/controller.js';
import { evaluate } from '../../src/policy/index.js';
import type { CompiledPolicy } from '../../src/policy/index.js';
import { countIdentities, iterateIdentities, sponsorStates } from '../../src/store/identities.js';
import {
  estateMappings,
  identityAt,
  insertIdentities,
  moverOf,
  simulatorGroups,
  updateIdentities,
  UNMANAGED_GROUPS,
  type GenerateOptions,
} from './lib/estate.js';
import { peakRssMiB, percentile, publish, since, verdict, type Cell, type Section } from './lib/report.js';
import { startSimProcess, type SimProcess } from './lib/sim.js';
import { createStoreSpec, openStoreSpec, type StoreKind, type StoreSpec } from './lib/store.js';

const { values: args } = parseArgs({
  options: {
    cases: { type: 'string', default: 'postgres:10000:engine,postgres:100000,pglite:10000' },
    sites: { type: 'string', default: '20' },
    seed: { type: 'string', default: '7' },
    concurrency: { type: 'string', default: '8' },
    'bucket-size': { type: 'string', default: '1000' },
    'queue-concurrency': { type: 'string', default: '4' },
    churn: { type: 'string', default: '0.005' },
    'steady-runs': { type: 'string', default: '3' },
    /** Seconds the steady-state process idles between its runs, as a service does between its hourly full runs. */
    'steady-gap': { type: 'string', default: '10' },
    /** Default seeding for cases that do not name one (store:size:direct|engine). */
    initial: { type: 'string', default: 'direct' },
    'service-path-max': { type: 'string', default: '20000' },
    'skip-service-path': { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
    // internal: a phase process
    phase: { type: 'string' },
    spec: { type: 'string' },
    'sim-url': { type: 'string' },
    'base-ms': { type: 'string' },
    n: { type: 'string' },
  },
});

const SITES = Number(args.sites);
const STEADY_RUNS = Math.max(1, Number(args['steady-runs']));
const STEADY_GAP_MS = Math.max(0, Number(args['steady-gap'])) * 1000;
const SEED = Number(args.seed);
const EXEC_CONCURRENCY = Number(args.concurrency);
const BUCKET = Number(args['bucket-size']);
const QUEUE_CONCURRENCY = Number(args['queue-concurrency']);
const CHURN = Number(args.churn);

interface Case {
  store: StoreKind;
  n: number;
  initial: 'direct' | 'engine';
}

interface Timed {
  totalMs: number;
  /** CPU time of lockstep's process during the run (user + system): what other load on the machine does not inflate. */
  cpuMs: number;
  planMs: number;
  /** From the plan to the last operation's result. */
  applyMs: number;
  /** After the last operation: anchors, run record. */
  bookkeepingMs: number;
  ops: number;
  failed: number;
  byKind: string;
  /** Peak RSS of the phase's process when the run ended. */
  rssMiB: number;
  /** Per operation kind: driver call plus store writes (links), retries included, in ms. */
  latency: Array<{ kind: string; n: number; mean: number; p50: number; p95: number; max: number }>;
}

async function timedRun(ctx: EngineContext, scope: Scope, approved: boolean): Promise<Timed> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let tPlan = 0;
  let tLast = 0;
  const latency = new Map<string, number[]>();
  const c: EngineContext = {
    ...ctx,
    hooks: {
      ...ctx.hooks,
      onPlan: () => (tPlan = performance.now()),
      onOperation: (op, _r, ms) => {
        const list = latency.get(op.kind) ?? [];
        list.push(ms);
        latency.set(op.kind, list);
      },
    },
  };
  const outcome: RunOutcome = await runReconcile(c, scope, {
    trigger: 'bench',
    actor: 'bench',
    apply: true,
    approved,
    onProgress: (done, total) => {
      if (done === total) tLast = performance.now();
    },
  });
  const tEnd = performance.now();
  const cpu = process.cpuUsage(cpu0);
  // BENCH_NODE_FLAGS=--expose-gc: what the process keeps between runs (the evaluation memo and identity cache), after a full GC
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) {
    g();
    const m = process.memoryUsage();
    process.stderr.write(`  (--expose-gc) heap retained after the run: ${(m.heapUsed / 2 ** 20).toFixed(0)} MiB, RSS ${(m.rss / 2 ** 20).toFixed(0)} MiB\n`);
  }
  if (!tLast) tLast = tPlan;
  const byKind = Object.entries(outcome.plan.summary.byKind)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  return {
    totalMs: tEnd - t0,
    cpuMs: (cpu.user + cpu.system) / 1000,
    planMs: tPlan - t0,
    applyMs: tLast - tPlan,
    bookkeepingMs: tEnd - tLast,
    ops: outcome.plan.operations.length,
    failed: outcome.failed.length,
    byKind: byKind || 'none',
    rssMiB: peakRssMiB(),
    latency: [...latency].map(([kind, list]) => {
      const sorted = list.sort((a, b) => a - b);
      return {
        kind,
        n: sorted.length,
        mean: sorted.reduce((a, b) => a + b, 0) / sorted.length,
        p50: percentile(sorted, 50),
        p95: percentile(sorted, 95),
        max: sorted[sorted.length - 1],
      };
    }),
  };
}

// ---- phases (each in its own process) ---------------------------------------------------

interface PhaseEnv {
  spec: StoreSpec;
  simUrl: string;
  gen: GenerateOptions;
  n: number;
}

async function withEngine<T>(env: PhaseEnv, fn: (ctx: EngineContext) => Promise<T>): Promise<T> {
  const { policy } = parseMappings(estateMappings(SITES).yaml, 'bench-mappings.yaml');
  const db = await openStoreSpec(env.spec);
  let driver: LockDriver | null = null;
  try {
    driver = await createConfiguredDriver('simulator', { system: 'dc1', options: { url: env.simUrl, pageSize: 1000, timeoutMs: 30_000 } });
    const ctx: EngineContext = {
      db,
      policy,
      drivers: new Map([['dc1', driver]]),
      logger: pino({ level: 'silent' }),
      now: () => new Date(),
      executor: { maxAttempts: 5, baseDelayMs: 50, maxDelayMs: 2000, concurrency: EXEC_CONCURRENCY },
    };
    return await fn(ctx);
  } finally {
    await driver?.close?.().catch(() => undefined);
    await db.close().catch(() => undefined);
  }
}

/** Which identities the churn phase turns into leavers and movers: spread over the estate. */
function churnPicks(n: number): { leavers: number[]; movers: number[] } {
  const pick = Math.max(1, Math.round(n * CHURN));
  const leavers: number[] = [];
  const movers: number[] = [];
  for (let k = 0; k < pick; k++) {
    const li = Math.floor(((k * 2 + 1) * n) / (pick * 2 + 1));
    leavers.push(li);
    movers.push(Math.min(n - 1, li + 1));
  }
  return { leavers, movers };
}

const phases: Record<string, (env: PhaseEnv) => Promise<unknown>> = {
  initial: (env) =>
    withEngine(env, async (ctx) => {
      const initial = await timedRun(ctx, { kind: 'full' }, true);
      return initial;
    }),
  steady: (env) =>
    withEngine(env, async (ctx) => {
      const out: Timed[] = [];
      for (let k = 0; k < STEADY_RUNS; k++) {
        // idle between runs as a service is between its full runs (an hour by default): V8's memory
        // reducer collects the last run's garbage after 8 s of quiet, as it would there
        if (k > 0 && STEADY_GAP_MS > 0) await new Promise((r) => setTimeout(r, STEADY_GAP_MS));
        out.push(await timedRun(ctx, { kind: 'full' }, false));
      }
      return out;
    }),
  churn: (env) =>
    withEngine(env, async (ctx) => {
      const picks = churnPicks(env.n);
      await updateIdentities(ctx.db, [
        ...picks.leavers.map((i) => ({ ...identityAt(i, env.gen), active: false })),
        ...picks.movers.map((i) => moverOf(i, env.gen)),
      ]);
      const joiners = picks.leavers.map((_, k) => identityAt(env.n + k, env.gen));
      await insertIdentities(ctx.db, joiners);
      const run = await timedRun(ctx, { kind: 'full' }, true);
      return { ...run, leavers: picks.leavers.length, movers: picks.movers.length, joiners: joiners.length };
    }),
  service: (env) =>
    withEngine(env, async (ctx) => {
      // What the queue's full-run job does: the controller's reconcileFull (the plan `lockstep
      // plan` shows), applied a partition of `bucketSize` identities at a time under leases
      // (in-process leases here; the service's are Redis round trips, one per partition).
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      let partitions = 0;
      const leases = localLeases();
      const r = await reconcileFull(
        {
          db: ctx.db,
          now: () => ctx.now(),
          logger: ctx.logger,
          reconcile: (scope, opts) => runReconcile(ctx, scope, { ...opts, approved: true }),
          systems: [...ctx.drivers.keys()],
          partitionSize: BUCKET,
          leases: { acquire: (ids) => (partitions++, leases.acquire(ids)) },
          requeue: async () => undefined,
        },
        { trigger: 'bench service', actor: 'bench' },
      );
      const cpu = process.cpuUsage(cpu0);
      return { ms: since(t0), cpuMs: (cpu.user + cpu.system) / 1000, ops: r.outcome.plan?.operations.length ?? 0, buckets: partitions, rssMiB: peakRssMiB() };
    }),
};

function runPhaseProcess<T>(phase: string, env: PhaseEnv): Promise<T> {
  const self = fileURLToPath(import.meta.url);
  const child = fork(
    self,
    [
      '--phase',
      phase,
      '--spec',
      JSON.stringify(env.spec),
      '--sim-url',
      env.simUrl,
      '--base-ms',
      String(env.gen.baseMs),
      '--n',
      String(env.n),
      '--sites',
      String(SITES),
      '--seed',
      String(SEED),
      '--concurrency',
      String(EXEC_CONCURRENCY),
      '--bucket-size',
      String(BUCKET),
      '--queue-concurrency',
      String(QUEUE_CONCURRENCY),
      '--churn',
      String(CHURN),
      '--steady-runs',
      String(STEADY_RUNS),
      '--steady-gap',
      String(STEADY_GAP_MS / 1000),
    ],
    {
      // BENCH_PROFILE=steady (or initial, churn, service) writes a V8 CPU profile of that phase
      // BENCH_NODE_FLAGS adds V8/Node flags to the phases (e.g. --max-semi-space-size=64 to see what GC tuning buys)
      execArgv: [
        '--import',
        'tsx',
        ...(process.env.BENCH_NODE_FLAGS?.split(/\s+/).filter(Boolean) ?? []),
        ...(process.env.BENCH_PROFILE?.split(',').includes(phase) ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR ?? 'bench-profiles'}`] : []),
      ],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  );
  return new Promise<T>((resolve, reject) => {
    let result: { ok: boolean; value?: T; error?: string } | null = null;
    child.on('message', (m: { ok: boolean; value?: T; error?: string }) => (result = m));
    child.on('exit', (code) => {
      if (result?.ok) resolve(result.value as T);
      else reject(new Error(`phase ${phase} failed (exit ${code}): ${result?.error ?? 'no result'}`));
    });
  });
}

async function phaseMain(): Promise<void> {
  const env: PhaseEnv = {
    spec: JSON.parse(args.spec!) as StoreSpec,
    simUrl: args['sim-url']!,
    gen: { sites: SITES, seed: SEED, baseMs: Number(args['base-ms']) },
    n: Number(args.n),
  };
  const fn = phases[args.phase!];
  if (!fn) throw new Error(`unknown phase ${args.phase}`);
  try {
    const value = await fn(env);
    process.send?.({ ok: true, value });
  } catch (e) {
    process.send?.({ ok: false, error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  }
  process.disconnect?.();
}

// ---- the orchestrator ---------------------------------------------------------------------

/** Inserts the estate's identities; returns the time it took. */
async function seedIdentities(env: PhaseEnv): Promise<{ ms: number; identities: number }> {
  const db = await openStoreSpec(env.spec);
  try {
    const t = performance.now();
    const batch = 5000;
    for (let i = 0; i < env.n; i += batch) {
      const inputs = [];
      for (let k = i; k < Math.min(env.n, i + batch); k++) inputs.push(identityAt(k, env.gen));
      await insertIdentities(db, inputs);
    }
    if (db.kind === 'postgres') await db.exec('ANALYZE');
    return { ms: since(t), identities: await countIdentities(db, { includeDeleted: true }) };
  } finally {
    await db.close();
  }
}

/**
 * What a converged estate looks like, written directly: for every identity the policy entitles,
 * its account with those memberships in the simulator, the link and the anchors in the store,
 * as a full run would have left them (the same evaluation, the same "since" rule for anchors).
 */
async function seedLockSystem(env: PhaseEnv, sim: SimProcess, policy: CompiledPolicy): Promise<{ ms: number; accounts: number; memberships: number }> {
  const db = await openStoreSpec(env.spec);
  try {
    const t = performance.now();
    const now = new Date();
    let accounts = 0;
    let memberships = 0;
    for await (const page of iterateIdentities(db, 5000, { includeDeleted: true })) {
      const seeds = [];
      const owners: Array<{ id: string; externalId: string }> = [];
      const anchors: Array<{ identityId: string; entitled: Record<string, string> }> = [];
      // sponsored access depends on the sponsor's own state, as in a full run
      const sponsors = await sponsorStates(
        db,
        page.filter((i) => typeof i.sponsor === 'string' && i.sponsor !== ''),
      );
      for (const identity of page) {
        const sponsor = sponsors.get(identity.id);
        const e = evaluate(identity, policy, { now, ...(sponsor ? { sponsor } : {}) });
        if (e.leaver || e.entitlements.length === 0) continue;
        const since: Record<string, string> = {};
        for (const x of e.entitlements) since[x.accessGroup.id] = x.validFrom && Date.parse(x.validFrom) > now.getTime() ? x.validFrom : now.toISOString();
        anchors.push({ identityId: identity.id, entitled: since });
        seeds.push({
          externalId: identity.externalId,
          displayName: identity.displayName ?? identity.userName,
          email: identity.email ?? null,
          memberships: e.entitlements.map((x) => ({ group: x.accessGroup.ref, from: x.validFrom, until: x.validUntil })),
        });
        owners.push({ id: identity.id, externalId: identity.externalId });
        memberships += e.entitlements.length;
      }
      const ids = await sim.seedAccounts(seeds);
      accounts += ids.length;
      await db.query(
        `INSERT INTO links (system, identity_id, account_id, external_id)
         SELECT 'dc1', i, a, x FROM unnest($1::uuid[], $2::text[], $3::text[]) AS u(i, a, x)`,
        [owners.map((o) => o.id), ids, owners.map((o) => o.externalId)],
      );
      // plain INSERTs (not the store's helper) so the bench also runs against older trees for before/after figures
      const ai: string[] = [];
      const ag: string[] = [];
      const as: string[] = [];
      for (const a of anchors) {
        for (const [g, t] of Object.entries(a.entitled)) {
          ai.push(a.identityId);
          ag.push(g);
          as.push(t);
        }
      }
      await db.query(`INSERT INTO entitlement_anchors (identity_id, access_group_id, since) SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[])`, [
        ai,
        ag,
        as,
      ]);
    }
    return { ms: since(t), accounts, memberships };
  } finally {
    await db.close();
  }
}

interface CaseResult {
  c: Case;
  seedMs: number;
  identities: number;
  /** Direct seeding of the lock system, or null when the engine created it. */
  direct: { ms: number; accounts: number; memberships: number } | null;
  initial: Timed | null;
  steady: Timed[];
  churn: Timed & { leavers: number; movers: number; joiners: number; drifted: number };
  service: { ms: number; cpuMs: number; ops: number; buckets: number; rssMiB: number } | null;
  sim: { accounts: number; memberships: number; credentials: number; suspended: number; peakRssMiB: number };
}

async function runCase(c: Case): Promise<CaseResult> {
  process.stdout.write(`\n== ${c.store} ${c.n.toLocaleString('en-US')} identities ==\n`);
  const store = await createStoreSpec(c.store);
  let sim: SimProcess | null = null;
  try {
    sim = await startSimProcess(simulatorGroups(SITES));
    const env: PhaseEnv = { spec: store.spec, simUrl: sim.url, gen: { sites: SITES, seed: SEED, baseMs: Date.now() }, n: c.n };
    const line = (name: string, t: Timed) =>
      process.stdout.write(
        `  ${name}: ${t.ops} ops (${t.byKind}), plan ${t.planMs.toFixed(0)} ms, apply ${t.applyMs.toFixed(0)} ms, total ${t.totalMs.toFixed(0)} ms, cpu ${t.cpuMs.toFixed(0)} ms, failed ${t.failed}, peak RSS ${t.rssMiB} MiB\n` +
          t.latency
            .map((l) => `    ${l.kind}: n ${l.n}, mean ${l.mean.toFixed(1)} ms, p50 ${l.p50.toFixed(1)}, p95 ${l.p95.toFixed(1)}, max ${l.max.toFixed(1)}\n`)
            .join(''),
      );
    const seeded = await seedIdentities(env);
    process.stdout.write(`  seeded ${seeded.identities} identities in ${(seeded.ms / 1000).toFixed(1)} s\n`);
    let direct: CaseResult['direct'] = null;
    let initial: Timed | null = null;
    if (c.initial === 'engine') {
      initial = await runPhaseProcess<Timed>('initial', env);
      line('initial', initial);
    } else {
      const { policy } = parseMappings(estateMappings(SITES).yaml, 'bench-mappings.yaml');
      direct = await seedLockSystem(env, sim, policy);
      process.stdout.write(
        `  lock system seeded directly: ${direct.accounts} accounts, ${direct.memberships} memberships in ${(direct.ms / 1000).toFixed(1)} s\n`,
      );
    }
    await sim.issueCards({ unmanagedGroup: UNMANAGED_GROUPS[0].id, unmanagedShare: 0.05, seed: SEED });
    const steady = await runPhaseProcess<Timed[]>('steady', env);
    steady.forEach((t, i) => line(`steady #${i + 1}`, t));
    const { removed } = await sim.drift(
      CHURN,
      SEED + 1,
      UNMANAGED_GROUPS.map((g) => g.id),
    );
    const churn = await runPhaseProcess<Timed & { leavers: number; movers: number; joiners: number }>('churn', env);
    line('churn', churn);
    let service: CaseResult['service'] = null;
    if (!args['skip-service-path'] && c.n <= Number(args['service-path-max'])) {
      service = await runPhaseProcess<NonNullable<CaseResult['service']>>('service', env);
      process.stdout.write(
        `  service path: ${service.buckets} lease partitions, ${service.ops} ops, ${service.ms.toFixed(0)} ms, peak RSS ${service.rssMiB} MiB\n`,
      );
    }
    const simStats = await sim.stats();
    return { c, seedMs: seeded.ms, identities: seeded.identities, direct, initial, steady, churn: { ...churn, drifted: removed }, service, sim: simStats };
  } finally {
    await sim?.close().catch(() => undefined);
    await store.drop().catch((e: unknown) => process.stderr.write(`could not drop the bench store: ${String(e)}\n`));
  }
}

const sec = (ms: number) => Math.round(ms) / 1000;

async function main(): Promise<void> {
  const cases: Case[] = args.cases.split(',').map((c) => {
    const [store, n, initial = args.initial] = c.split(':');
    if ((store !== 'postgres' && store !== 'pglite') || !Number(n) || (initial !== 'direct' && initial !== 'engine')) {
      throw new Error(`--cases: "${c}" is not store:size[:direct|engine] (postgres:10000:engine, pglite:10000)`);
    }
    return { store, n: Number(n), initial };
  });
  const shape = estateMappings(SITES).shape;
  const results: CaseResult[] = [];
  for (const c of cases) results.push(await runCase(c));

  const sections: Section[] = [];
  const rows: Cell[][] = [];
  for (const r of results) {
    const label = `${r.c.store} ${r.c.n / 1000}k`;
    const row = (phase: string, t: Timed, extra: string): Cell[] => [
      label,
      phase,
      t.ops,
      sec(t.planMs),
      t.ops ? sec(t.applyMs) : null,
      t.ops && t.applyMs > 0 ? Math.round((t.ops / t.applyMs) * 1000) : null,
      sec(t.bookkeepingMs),
      sec(t.totalMs),
      sec(t.cpuMs),
      t.failed,
      t.rssMiB,
      extra,
    ];
    if (r.initial) rows.push(row('initial: every joiner at once', r.initial, r.initial.byKind));
    if (r.direct)
      rows.push([
        label,
        'initial: seeded directly',
        null,
        null,
        null,
        null,
        null,
        sec(r.direct.ms),
        null,
        null,
        null,
        `${r.direct.accounts} accounts, ${r.direct.memberships} memberships written to the simulator, links and anchors to the store`,
      ]);
    r.steady.forEach((st, i) => rows.push(row(`steady state #${i + 1}`, st, st.ops === 0 ? 'no changes' : `UNEXPECTED: ${st.byKind}`)));
    rows.push(
      row(
        'churn',
        r.churn,
        `${r.churn.joiners} joiners, ${r.churn.leavers} leavers, ${r.churn.movers} movers, ${r.churn.drifted} memberships removed by hand: ${r.churn.byKind}`,
      ),
    );
    if (r.service) {
      rows.push([
        label,
        `service path`,
        r.service.ops,
        null,
        null,
        null,
        null,
        sec(r.service.ms),
        sec(r.service.cpuMs),
        null,
        r.service.rssMiB,
        `the full-run job: one plan, applied in ${r.service.buckets} lease partition(s) of up to ${BUCKET} identities`,
      ]);
    }
  }
  sections.push({
    title: `Reconciliation: ${shape.rules} rules, ${shape.roles} role bundles, ${shape.accessGroups} access groups over ${shape.sites} sites; simulator in its own process; executor concurrency ${EXEC_CONCURRENCY}`,
    headers: ['case', 'phase', 'ops', 'plan s', 'apply s', 'ops/s', 'after s', 'total s', 'cpu s', 'failed', 'peak RSS MiB', 'detail'],
    rows,
    notes: [
      "`plan s`: reading identities, anchors, links and every account, evaluating and diffing. `apply s`: from the plan to the last operation result. `after s`: anchors and the run record. `cpu s`: CPU time of the lockstep process during the run (wall time stretches when other work shares the cores; this does much less). `peak RSS`: high-water mark of the phase's own lockstep process (each phase runs in a fresh process).",
    ],
  });
  const lat: Cell[][] = [];
  for (const r of results) {
    const label = `${r.c.store} ${r.c.n / 1000}k`;
    for (const [phase, t] of [
      ['initial', r.initial],
      ['churn', r.churn],
    ] as const) {
      for (const l of t?.latency ?? []) lat.push([label, phase, l.kind, l.n, l.mean, l.p50, l.p95, l.max]);
    }
  }
  if (lat.length) {
    sections.push({
      title: `Operation latency (ms): driver call and store writes, ${EXEC_CONCURRENCY} accounts at once`,
      headers: ['case', 'phase', 'kind', 'n', 'mean', 'p50', 'p95', 'max'],
      rows: lat,
    });
  }
  const est: Cell[][] = results.map((r) => [
    `${r.c.store} ${r.c.n / 1000}k`,
    r.identities,
    sec(r.seedMs),
    r.sim.accounts,
    r.sim.memberships,
    r.sim.credentials,
    r.sim.suspended,
    r.sim.peakRssMiB,
  ]);
  sections.push({
    title: 'Estate after the runs (simulator process)',
    headers: ['case', 'identities', 'seed s', 'accounts', 'memberships', 'cards', 'suspended', 'simulator peak RSS MiB'],
    rows: est,
  });

  const targets: Cell[][] = [];
  for (const r of results.filter((x) => x.c.n >= 100_000)) {
    const label = `${r.c.store} ${r.c.n / 1000}k`;
    const worst = Math.max(...r.steady.map((x) => x.totalMs));
    const best = Math.min(...r.steady.map((x) => x.totalMs));
    const plan = Math.max(...r.steady.map((x) => x.planMs));
    const rss = Math.max(...r.steady.map((x) => x.rssMiB));
    const cpu = Math.max(...r.steady.map((x) => x.cpuMs));
    targets.push([label, 'steady-state full run ≤ 10 s', `${sec(worst)} s (best ${sec(best)} s; lockstep CPU ≤ ${sec(cpu)} s)`, verdict(worst, 10_000)]);
    targets.push([label, 'plan alone ≤ 3 s (every run)', `${sec(plan)} s`, verdict(plan, 3000)]);
    // the first run of a process evaluates everyone; later ones reuse unchanged evaluations
    const warm = r.steady.slice(1);
    if (warm.length) {
      const warmPlan = Math.max(...warm.map((x) => x.planMs));
      targets.push([
        label,
        'plan alone ≤ 3 s (warm: a running service’s later full runs)',
        `${sec(warmPlan)} s (cold, the first: ${sec(r.steady[0].planMs)} s)`,
        verdict(warmPlan, 3000),
      ]);
    }
    targets.push([label, 'peak RSS of the steady-state process ≤ 1 GiB', `${rss} MiB`, verdict(rss, 1024)]);
  }
  if (targets.length) sections.push({ title: 'Targets (100k identities)', headers: ['case', 'target', 'measured', 'verdict'], rows: targets });
  const env = ['BENCH_NODE_FLAGS', 'BENCH_PG_ADMIN_URL'].filter((k) => process.env[k]).map((k) => `${k}=${process.env[k]}`);
  await publish('bench:reconcile', 'bench:reconcile', sections, {
    write: !args['no-write'],
    notes: env.length ? [`environment: ${env.join(' ')}`] : [],
  });
}

(args.phase ? phaseMain() : main()).catch((e: unknown) => {
  process.stderr.write(`bench:reconcile failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
