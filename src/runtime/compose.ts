import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { RunningSimulator } from '../../connectors/simulator/index.js';
import { LockstepError } from '../domain/errors.js';
import { createConfiguredDriver } from './drivers.js';
import type { LockDriver } from '../drivers/contract.js';
import { loadMappings, type CompiledPolicy } from '../policy/index.js';
import type { EngineContext, EngineHooks } from '../reconcile/types.js';
import { resolveFromConfig, type LoadedConfig } from '../config/load.js';
import { openStore, type Db } from '../store/index.js';
import { clockFromEnv } from './clock.js';
import { checkMappingAttributes } from './mapping-lint.js';

/** The composition root: config → store, policy, drivers (and embedded simulators) → an engine context. */
export interface Engine {
  ctx: EngineContext;
  loaded: LoadedConfig;
  embedded: Map<string, RunningSimulator>;
  close(): Promise<void>;
}

export function dataDir(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.LOCKSTEP_DATA_DIR ?? './data');
}

/**
 * DATABASE_URL → PostgreSQL; otherwise PGlite under LOCKSTEP_DATA_DIR. With joinShared (CLI
 * commands), a PGlite store that a running serve holds is used through the socket serve shares
 * it on (src/store/share.ts), rather than refused.
 */
export async function openConfiguredStore(env: NodeJS.ProcessEnv = process.env, opts: { joinShared?: boolean } = {}): Promise<Db> {
  return openStore(env.DATABASE_URL ? { databaseUrl: env.DATABASE_URL } : { dataDir: join(dataDir(env), 'pglite'), joinShared: !!opts.joinShared });
}

/** Every access group must name a configured system, or reconcile would silently skip it. */
export function checkSystems(policy: CompiledPolicy, loaded: LoadedConfig): void {
  const missing = [...policy.accessGroups.values()].filter((g) => !(g.system in loaded.config.systems));
  if (missing.length) {
    const names = [...new Set(missing.map((g) => g.system))];
    throw new LockstepError(
      'config',
      `the mappings name system(s) ${names.join(', ')} that ${loaded.file} does not configure (access groups ${missing
        .slice(0, 5)
        .map((g) => g.id)
        .join(', ')}${missing.length > 5 ? ', …' : ''})`,
      { field: 'systems' },
    );
  }
}

export interface CreateEngineOptions {
  logger: Logger;
  db?: Db;
  /** Start `embedded` simulators in this process (serve does; CLI commands do when none answers). */
  startEmbedded?: boolean;
  hooks?: EngineHooks;
  now?: () => Date;
  /** DATABASE_URL and LOCKSTEP_DATA_DIR come from here. Default: process.env. */
  env?: NodeJS.ProcessEnv;
  /** Use the embedded store a running serve shares, instead of being refused (CLI commands). */
  joinSharedStore?: boolean;
}

async function answers(url: string): Promise<boolean> {
  try {
    const r = await fetch(`${url}/api/health`, { signal: AbortSignal.timeout(500) });
    return r.ok;
  } catch {
    return false;
  }
}

export async function createEngine(loaded: LoadedConfig, opts: CreateEngineOptions): Promise<Engine> {
  const { policy } = await loadMappings(loaded.mappingPaths);
  checkSystems(policy, loaded);
  await checkMappingAttributes(policy, loaded);
  // before anything is opened: a refused clock offset must not leave a store or simulator behind
  const now = opts.now ?? clockFromEnv(opts.env ?? process.env, opts.logger).now;
  const embedded = new Map<string, RunningSimulator>();
  const drivers = new Map<string, LockDriver>();
  const env = opts.env ?? process.env;
  const db = opts.db ?? (await openConfiguredStore(env, { joinShared: opts.joinSharedStore }));
  try {
    for (const [name, sys] of Object.entries(loaded.config.systems)) {
      const options: Record<string, unknown> = { ...sys.options };
      if (sys.embedded) {
        if (sys.type !== 'simulator')
          throw new LockstepError('config', `systems.${name}.embedded: only simulator systems can be embedded`, { field: `systems.${name}.embedded` });
        const url = `http://${sys.embedded.host}:${sys.embedded.port}`;
        // a running `lockstep serve` already hosts it: share that one rather than fight over its state file
        if (opts.startEmbedded === false || (await answers(url))) {
          options.url ??= url;
        } else {
          // loaded only here: a deployment without an embedded simulator never imports it
          const { startSimulator, loadSeed } = await import('../../connectors/simulator/index.js');
          const groups = [...policy.accessGroups.values()].filter((g) => g.system === name).map((g) => ({ id: g.ref, name: g.name, doors: [`${g.ref}-door`] }));
          const sim = await startSimulator({
            host: sys.embedded.host,
            port: sys.embedded.port,
            stateFile: sys.embedded.stateFile ? resolveFromConfig(loaded, sys.embedded.stateFile) : join(dataDir(env), `${name}-simulator.json`),
            groups,
            ...(sys.embedded.profile ? { profile: sys.embedded.profile } : {}),
            ...(sys.embedded.seed ? { seed: await loadSeed(resolveFromConfig(loaded, sys.embedded.seed)) } : {}),
          });
          embedded.set(name, sim);
          options.url = sim.url;
        }
      }
      drivers.set(name, await createConfiguredDriver(sys.type, { system: name, options, logger: opts.logger.child({ system: name }) }));
    }
  } catch (e) {
    for (const s of embedded.values()) await s.close().catch(() => undefined);
    if (!opts.db) await db.close().catch(() => undefined);
    throw e;
  }
  const ctx: EngineContext = {
    db,
    policy,
    drivers,
    logger: opts.logger,
    now,
    executor: loaded.config.executor,
    hooks: opts.hooks,
  };
  return {
    ctx,
    loaded,
    embedded,
    close: async () => {
      for (const d of drivers.values()) await d.close?.().catch(() => undefined);
      for (const s of embedded.values()) {
        await s.flush().catch(() => undefined);
        await s.close().catch(() => undefined);
      }
      if (!opts.db) await db.close();
    },
  };
}
