import type { Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import { LockstepError } from '../domain/errors.js';
import { loadConfig, resolveFromConfig, tokensFrom } from '../config/index.js';
import { pendingStats } from '../store/queue-state.js';
import { heldRevocations } from '../store/budget.js';
import { createEngine, dataDir } from './compose.js';
import { createLogger } from './logger.js';
import { checkpointJob, loadVerifyKeys } from './checkpoint-sinks.js';
import { startNotifier, type Notifier } from './notifications.js';
import { admitBatch, markCredentialLost } from '../reconcile/index.js';
import { syncFileSource } from '../sources/file/index.js';
import { createScimRouter } from '../sources/scim/index.js';
import {
  checkRedis,
  createQueues,
  createRateLimiter,
  engineHandlers,
  overdueRevocations,
  redisServerOnPath,
  startFullRun,
  startLocalRedis,
  startSchedulers,
  startWorkers,
  withRateLimits,
  DEFAULT_REDIS_URL,
  type LocalRedis,
} from '../queue/index.js';
import { metricsRegistry, engineHooks, enableProcessMetrics } from '../metrics/index.js';
import { createApp, DEFAULT_ROLE_MAP, type ApiAuth, type Role } from '../api/index.js';
import type { AuthConfig } from '../config/index.js';
import { createConsoleApi } from '../api/console.js';
import { createUiRouter } from '../api/ui.js';

export interface ServeOptions {
  configPath: string;
  logLevel?: string;
  /** `lockstep worker`: queue workers only, no HTTP, no schedulers. */
  workerOnly?: boolean;
  env?: NodeJS.ProcessEnv;
}

export interface RunningService {
  url: string | null;
  close(): Promise<void>;
}

function redisHelp(url: string, message: string): string {
  return [
    `lockstep needs Redis for its job queue, and nothing answered at ${url} (${message}).`,
    `Start one and try again: on this machine \`redis-server --daemonize yes --port 6379 --appendonly yes\`,`,
    `with Docker \`docker run -d -p 6379:6379 redis:7 --appendonly yes\`, or \`docker compose up -d redis\` in this repository;`,
    `or point REDIS_URL at one you have. In production give Redis AOF persistence (appendonly yes) and maxmemory-policy noeviction,`,
    `so queued revocations survive a restart and are never evicted.`,
  ].join('\n');
}

/**
 * Sign-in and roles from `auth` in lockstep.yaml and the environment: named tokens (a missing
 * tokenEnv stops the start), OIDC, and the session secret (generated for this process, with a
 * warning, when OIDC is on and none is set: sessions then end at a restart).
 */
export function apiAuth(a: AuthConfig, env: NodeJS.ProcessEnv, logger: { warn(msg: string): void }): ApiAuth {
  const tokens = a.tokens.map((t) => {
    const token = t.token ?? env[t.tokenEnv!];
    if (!token)
      throw new LockstepError('config', `auth.tokens ${t.name}: the environment variable ${t.tokenEnv} is not set`, { field: `auth.tokens.${t.name}` });
    if (token.length < 16)
      throw new LockstepError('config', `auth.tokens ${t.name}: the token in ${t.tokenEnv} has fewer than 16 characters`, { field: `auth.tokens.${t.name}` });
    const roles: Role[] = t.roles;
    return { name: t.name, token, roles };
  });
  const publicUrl = (a.publicUrl ?? env.LOCKSTEP_PUBLIC_URL)?.replace(/\/+$/, '');
  let sessionSecret = a.session.secret ?? env.LOCKSTEP_SESSION_SECRET;
  if (sessionSecret !== undefined && sessionSecret.length < 32)
    throw new LockstepError('config', 'LOCKSTEP_SESSION_SECRET must have at least 32 characters', { field: 'auth.session.secret' });
  const o = a.oidc;
  if (o && !sessionSecret) {
    sessionSecret = randomBytes(32).toString('base64url');
    logger.warn(
      'auth.oidc is set but no session secret (auth.session.secret or LOCKSTEP_SESSION_SECRET): one was generated for this process, so sign-ins end when it restarts',
    );
  }
  const roleMap = o?.roleMap ? Object.fromEntries(Object.entries(o.roleMap).map(([k, v]) => [k, Array.isArray(v) ? v : [v]])) : DEFAULT_ROLE_MAP;
  const clientSecret = o?.clientSecret ?? env.LOCKSTEP_OIDC_CLIENT_SECRET;
  return {
    tokens,
    ...(o
      ? {
          oidc: {
            issuer: o.issuer,
            clientId: o.clientId,
            ...(clientSecret ? { clientSecret } : {}),
            scopes: o.scopes,
            audience: o.audience === undefined ? [o.clientId] : Array.isArray(o.audience) ? o.audience : [o.audience],
            roleClaim: o.roleClaim,
            groupsClaim: o.groupsClaim,
            roleMap,
            ...(publicUrl ? { redirectUri: `${publicUrl}/auth/callback` } : {}),
          },
        }
      : {}),
    ...(sessionSecret ? { sessionSecret } : {}),
    sessionMaxAgeSeconds: a.session.maxAgeMinutes * 60,
    secureCookies: !!publicUrl?.startsWith('https:'),
  };
}

/**
 * `lockstep serve`: store, engine, SCIM, admin API, workers and schedulers in one process.
 * At start it imports the configured HR exports and queues a full reconciliation, so a fresh
 * `npm start` ends with the example people's doors applied.
 */
export async function serve(opts: ServeOptions): Promise<RunningService> {
  const env = opts.env ?? process.env;
  const logger = createLogger(opts.logLevel ?? env.LOG_LEVEL ?? 'info');
  const loaded = await loadConfig(opts.configPath, env);
  const cfg = loaded.config;
  // read now: a named token whose variable is unset stops the start before anything runs
  const auth = opts.workerOnly ? {} : apiAuth(cfg.auth, env, logger);

  const redisUrl = env.REDIS_URL ?? DEFAULT_REDIS_URL;
  let localRedis: LocalRedis | null = null;
  let check = await checkRedis(redisUrl);
  if (!check.ok && !env.REDIS_URL && env.LOCKSTEP_NO_LOCAL_REDIS !== '1' && redisServerOnPath()) {
    logger.warn({ url: redisUrl }, 'no Redis answered; starting a local redis-server under the data directory');
    localRedis = await startLocalRedis(dataDir(env));
    check = await checkRedis(localRedis.url);
  }
  if (!check.ok) throw new LockstepError('unavailable', redisHelp(redisUrl, check.message));
  const connection = localRedis?.url ?? redisUrl;

  const hooks = engineHooks();
  enableProcessMetrics();
  const engine = await createEngine(loaded, { logger, hooks, startEmbedded: !opts.workerOnly, env }).catch(async (e: unknown) => {
    // the store is in use by another process, or the config is wrong: leave nothing running behind
    await localRedis?.stop();
    throw e;
  });
  // the embedded store: CLI commands beside this process use it through a local socket
  // (src/store/share.ts) instead of being refused; a worker-only process does not share
  if (!opts.workerOnly) {
    await engine.ctx.db.share?.().catch((e: unknown) => {
      // the service runs without it: CLI commands are then refused while it runs (exit 7), as they were
      logger.warn({ err: (e as Error).message }, 'the embedded store could not be shared with CLI commands');
    });
  }
  const limiter = createRateLimiter({
    connection,
    prefix: cfg.queue.prefix,
    perSecond: Object.fromEntries(Object.entries(cfg.systems).map(([n, s]) => [n, s.rateLimitPerSecond])),
  });
  const ctx = withRateLimits(engine.ctx, limiter.limiter);
  const queues = createQueues({ connection, prefix: cfg.queue.prefix, db: ctx.db, logger });
  const systems = Object.keys(cfg.systems);

  const entraSources = Object.entries(cfg.sources).filter(([, s]) => s.type === 'entra');
  // What the pull found (counts, skipped rows, withheld leavers): the sync API answers with it.
  const pullSource = async (name: string, actor?: string) => {
    // an own property only: `constructor` or `__proto__` is a name nobody configured
    const src = Object.hasOwn(cfg.sources, name) ? cfg.sources[name] : undefined;
    if (!src) throw new LockstepError('not_found', `no source named ${name}`, { field: 'source' });
    // a pull someone asked for through the API names them in its jobs' reason: a run it gets held
    // in was caused by them (four-eyes, src/reconcile/run.ts runCausers)
    const base = queues.onChange(`source:${name}`);
    const enqueue: typeof base = actor
      ? (ids, info) => base(ids, { ...info, reason: `${info.reason ?? `source:${name}:${info.leaver ? 'leaver' : 'change'}`} by api:${actor}` })
      : base;
    // A batch source knows its whole batch before anyone is reconciled: it is collected here and
    // judged as one change by the revocation budget (reconcile/batch.ts) before any job is queued.
    const batch = { leavers: new Set<string>(), others: new Set<string>() };
    const onChange: typeof base = async (ids, info) => {
      for (const id of ids) (info.leaver ? batch.leavers : batch.others).add(id);
    };
    const admitAndEnqueue = async () => {
      const all = [...batch.leavers, ...batch.others];
      if (all.length === 0) return null;
      let admitted = new Set(all);
      let held: Awaited<ReturnType<typeof admitBatch>> | null = null;
      try {
        held = await admitBatch(ctx, all, { actor: actor ?? `source:${name}`, trigger: `source:${name}${actor ? ` by api:${actor}` : ''}` });
        admitted = new Set(held.admit);
      } catch (e) {
        // the batch could not be planned (a lock system down): each job still spends the budget on its own
        logger.warn(
          { source: name, err: (e as Error).message },
          'source batch could not be judged as a whole; its changes go to the queue one person at a time under the revocation budget',
        );
      }
      const leavers = [...batch.leavers].filter((id) => admitted.has(id));
      const others = [...batch.others].filter((id) => admitted.has(id) && !batch.leavers.has(id));
      if (leavers.length) await enqueue(leavers, { leaver: true });
      if (others.length) await enqueue(others, { leaver: false });
      return held && held.runId ? { runId: held.runId, people: held.held.length, reason: held.reason } : null;
    };
    if (src.type === 'file') {
      const result = await syncFileSource({ db: ctx.db, name, config: src, path: resolveFromConfig(loaded, src.path), actor, onChange });
      const held = await admitAndEnqueue();
      return { type: 'file' as const, result, held };
    }
    const { pullEntra } = await import('../sources/entra/index.js');
    const result = await pullEntra({ db: ctx.db, source: { ...src, name }, onChange, logger });
    const held = await admitAndEnqueue();
    return { type: 'entra' as const, result, held };
  };

  // signed checkpoints of the audit chain's head (the key is read now: a bad one stops the start)
  const auditCheckpoint = cfg.audit.checkpoint ? await checkpointJob(ctx.db, cfg.audit.checkpoint, loaded, logger) : undefined;
  const workers = await startWorkers({
    queues,
    db: ctx.db,
    // a timer's pull keeps returning nothing: its job's return value would otherwise hold every changed id
    handlers: engineHandlers(ctx, { pullSource: async (name) => void (await pullSource(name)), ...(auditCheckpoint ? { auditCheckpoint } : {}) }),
    systems,
    bucketSize: cfg.queue.bucketSize,
    concurrency: cfg.queue.concurrency,
    logger,
    now: () => ctx.now(),
    // Redis came back without its data: the timers are gone with it (pending changes are re-enqueued by the workers)
    onQueueLost: async () => {
      if (schedulerDeps) await startSchedulers(schedulerDeps);
    },
  });
  let schedulerDeps: Parameters<typeof startSchedulers>[0] | null = null;

  let server: Server | null = null;
  let schedulers: { close(): Promise<void> } | null = null;
  let url: string | null = null;
  let consoleApi: ReturnType<typeof createConsoleApi> | null = null;
  let notifier: Notifier | null = null;
  if (!opts.workerOnly) {
    // First start: bring the HR exports in, then queue the start-up full run (it covers
    // everyone imported), and only then start the timers. Timers started first fired a full run
    // over an empty store, which the start-up run then reused: imported people got no doors
    // until the next hourly run.
    for (const [name, src] of Object.entries(cfg.sources)) {
      if (src.type !== 'file') continue;
      try {
        const r = await syncFileSource({ db: ctx.db, name, config: src, path: resolveFromConfig(loaded, src.path), actor: 'serve' });
        logger.info({ source: name, created: r.created, updated: r.updated, leavers: r.leavers, errors: r.errors.length }, 'HR export imported');
      } catch (e) {
        logger.error({ source: name, err: (e as Error).message }, 'HR export could not be imported');
      }
    }
    const run = await startFullRun({ queues, db: ctx.db, systems }, { trigger: 'startup', actor: 'serve' });
    logger.info({ run: run.runId, reused: !run.started }, 'full reconciliation queued');
    schedulerDeps = {
      queues,
      schedules: {
        fullReconcileMs: cfg.queue.schedules.fullReconcileMs,
        expirySweepMs: cfg.queue.schedules.expirySweepMs,
        accessEventsMs: cfg.queue.schedules.accessEventsMs,
      },
      systems,
      sources: entraSources.map(([name, s]) => ({ name, intervalMs: Number((s as { intervalMs?: number }).intervalMs ?? 60_000) })),
      auditCheckpointMs: cfg.audit.checkpoint?.everyMs ?? 0,
    };
    schedulers = await startSchedulers(schedulerDeps);
    // governance webhooks (CloudEvents), from the audit log: the serving process sends them, workers do not
    if (cfg.notifications.webhooks.length) notifier = await startNotifier({ db: ctx.db, config: cfg.notifications, logger });
    // No token configured (a first demo run): make one for this process and say so, rather than
    // leave the API open or unusable. Production sets ADMIN_TOKEN and SCIM_TOKEN.
    const generated: string[] = [];
    const orGenerate = (tokens: string[], name: string, what: string) => {
      if (tokens.length) return tokens;
      const t = randomBytes(24).toString('base64url');
      generated.push(`  export ${name}=${t}   # ${what}`);
      return [t];
    };
    const scimTokens = orGenerate(tokensFrom(cfg.scim.tokens, env.SCIM_TOKEN), 'SCIM_TOKEN', 'SCIM clients');
    const legacy = tokensFrom(cfg.api.tokens, env.ADMIN_TOKEN);
    // an admin token is generated only when there is no other way in (no named token, no sign-in)
    const noWayIn = !auth.tokens?.length && !auth.oidc;
    const adminTokens = noWayIn ? orGenerate(legacy, 'ADMIN_TOKEN', 'admin API and console, every role') : legacy;
    // A second principal for the same demo, so four-eyes can be tried: what the admin token starts
    // and the guard holds, or a request it makes, this one approves (the admin token cannot approve
    // its own). Only where nothing else is configured: APPROVER_TOKEN keeps it, else it is generated
    // with the admin token. Production names its tokens in auth.tokens or signs people in.
    if (noWayIn && (env.APPROVER_TOKEN || legacy.length === 0)) {
      const approver = env.APPROVER_TOKEN ?? orGenerate([], 'APPROVER_TOKEN', 'the approver role only: approves what the admin token started (four-eyes)')[0];
      if (approver.length < 16) throw new LockstepError('config', 'APPROVER_TOKEN must have at least 16 characters', { field: 'APPROVER_TOKEN' });
      auth.tokens = [...(auth.tokens ?? []), { name: 'approver', token: approver, roles: ['approver'] }];
    }
    consoleApi = createConsoleApi({
      ctx,
      mappingPaths: loaded.mappingPaths,
      systems,
      sources: Object.entries(cfg.sources).map(([name, s]) => ({ name, type: s.type })),
      metrics: () => metricsRegistry.getMetricsAsJSON(),
      overdue: () => overdueRevocations(ctx.db),
      held: () => heldRevocations(ctx.db),
    });
    const app = createApp({
      ctx,
      adminTokens,
      auth,
      bodyLimitBytes: cfg.api.bodyLimitBytes,
      ...(cfg.audit.checkpoint ? { auditCheckpointKeys: () => loadVerifyKeys({ cfg: cfg.audit.checkpoint!, base: loaded }) } : {}),
      scim: cfg.scim.enabled
        ? createScimRouter({
            db: ctx.db,
            config: { ...cfg.scim, tokens: scimTokens },
            onChange: queues.onChange('scim'),
            markPending: true,
            logger,
            env,
          })
        : undefined,
      metrics: async () => ({ contentType: metricsRegistry.contentType, body: await metricsRegistry.metrics() }),
      readiness: async () => {
        const overdue = await overdueRevocations(ctx.db);
        const redis = await checkRedis(connection, 1000);
        const pending = await pendingStats(ctx.db);
        const held = await heldRevocations(ctx.db);
        return {
          ok: redis.ok,
          details: {
            redis: redis.ok ? 'ok' : redis.message,
            overdueRevocations: overdue.count,
            oldestOverdueSince: overdue.oldestSince,
            overdue: overdue.items.slice(0, 20),
            // revocations a held run keeps from landing: as loud as overdue ones (issue 21)
            heldRuns: held.runs,
            heldPeople: held.people,
            heldMemberships: held.memberships,
            oldestHeldSince: held.oldestSince,
            held: held.items,
            pendingChanges: pending.count,
            oldestPendingSince: pending.oldestSince,
          },
        };
      },
      startRun: async (scope, o) => {
        if (scope.kind === 'full' && o.apply) {
          const r = await startFullRun({ queues, db: ctx.db, systems }, { trigger: 'api', actor: o.actor });
          return { runId: r.runId, queued: true };
        }
        if (scope.kind === 'identities' && o.apply) {
          await queues.enqueueIdentities(scope.ids, { priority: 'normal', reason: `api:${o.actor}` });
          return { runId: null, queued: true };
        }
        const { runReconcile } = await import('../reconcile/index.js');
        const out = await runReconcile(ctx, scope, { trigger: 'api', actor: o.actor, apply: o.apply });
        return { runId: out.run?.id ?? null, queued: false };
      },
      reportLost: async (c, req) => {
        const out = await markCredentialLost(c, req);
        // not landed (lock system down): the priority lane retries it until it does
        if (out.result.status !== 'applied')
          await queues.enqueueLostCredential({
            system: req.system,
            credentialId: req.credentialId,
            accountId: out.account.id,
            actor: req.actor,
            note: req.note,
            state: req.state,
          });
        return out;
      },
      syncSource: (name, actor) => pullSource(name, actor),
      console: consoleApi.router,
      ui: createUiRouter({ dir: env.LOCKSTEP_UI_DIR }),
    });
    const port = Number(env.PORT ?? 8080);
    server = await new Promise<Server>((resolve, reject) => {
      const s = app.listen(port, env.HOST ?? '0.0.0.0', () => resolve(s));
      s.once('error', reject);
    });
    const addr = server.address();
    const shown = typeof addr === 'object' && addr ? addr.port : port;
    url = `http://localhost:${shown}`;

    process.stderr.write(
      `\nlockstep is running.\n  console    ${url}/ui/\n  admin API  ${url}/api/v1   (Authorization: Bearer $ADMIN_TOKEN${auth.oidc ? ', or signed in' : ''}; reference ${url}/api/v1/docs)\n${auth.oidc ? `  sign-in    ${url}/auth/login  (OIDC: ${auth.oidc.issuer})\n` : ''}  SCIM       ${url}/scim/v2  (Authorization: Bearer $SCIM_TOKEN)\n  health     ${url}/healthz  ${url}/readyz  ${url}/metrics\n${[...engine.embedded].map(([n, s]) => `  simulator  ${n}: ${s.url}/api (embedded)\n`).join('')}  full reconciliation run ${run.runId} queued\n${generated.length ? `\nNo tokens were configured, so these were generated for this process only. Paste these lines into the shell you try lockstep from\n(and set them before \`npm start\` to keep them across restarts):\n${generated.join('\n')}\n` : ''}\n`,
    );
  } else {
    logger.info({ systems }, 'worker started');
  }

  let closing = false;
  const close = async () => {
    if (closing) return;
    closing = true;
    consoleApi?.close();
    if (server) await new Promise<void>((r) => server.close(() => r()));
    await schedulers?.close();
    await notifier?.close();
    await workers.close();
    await queues.close();
    await limiter.close();
    await engine.close();
    await localRedis?.stop();
  };
  const onSignal = (sig: string) => {
    logger.info({ sig }, 'shutting down');
    void close().then(() => process.exit(0));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return { url, close };
}
