import { LockstepError, toLockstepError } from '../domain/errors.js';
import type { DriverContext, DriverFactory, LockDriver } from './contract.js';

/**
 * Driver types by name. Built-ins are imported on first use, so a deployment that only
 * talks to Gallagher never loads the simulator (and the other way round); third-party
 * drivers register a factory before the service starts.
 */

type Loader = () => Promise<unknown>;

// Specifiers kept in variables: a built-in whose folder is missing from a build (or not
// written yet) must fail when someone configures it, not when this module is compiled.
const SIMULATOR = '../../connectors/simulator/index.js';
const GALLAGHER = '../../connectors/gallagher/index.js';

const builtins: Record<string, Loader> = {
  simulator: () => import(SIMULATOR),
  gallagher: () => import(GALLAGHER),
};

const registered = new Map<string, DriverFactory>();
const loaded = new Map<string, Promise<DriverFactory>>();

export interface RegisterOptions {
  /** Replace a factory already registered under the same type (tests, hot reload). */
  replace?: boolean;
}

/** Makes a driver type available to createDriver; it takes precedence over a built-in of that name. */
export function registerDriver(factory: DriverFactory, opts: RegisterOptions = {}): void {
  if (!isDriverFactory(factory)) {
    throw new LockstepError('validation', 'a driver factory needs a non-empty `type` and a `create` function', { field: 'factory' });
  }
  if (registered.has(factory.type) && !opts.replace) {
    throw new LockstepError('conflict', `driver type ${factory.type} is already registered`, { field: 'type' });
  }
  registered.set(factory.type, factory);
}

/** Removes a registered (not built-in) driver type; returns whether there was one. */
export function unregisterDriver(type: string): boolean {
  return registered.delete(type);
}

/** Every type createDriver knows, sorted. */
export function knownDriverTypes(): string[] {
  return [...new Set([...Object.keys(builtins), ...registered.keys()])].sort();
}

/** Builds the driver for one system of lockstep.yaml. Unknown types and failing loads are `config` errors. */
export async function createDriver(type: string, ctx: DriverContext): Promise<LockDriver> {
  const factory = await resolveFactory(type, ctx.system);
  try {
    return await factory.create(ctx);
  } catch (e) {
    throw toLockstepError(e);
  }
}

async function resolveFactory(type: string, system: string): Promise<DriverFactory> {
  const own = registered.get(type);
  if (own) return own;
  const load = Object.hasOwn(builtins, type) ? builtins[type] : undefined;
  if (!load) {
    throw new LockstepError('config', `system ${system}: unknown driver type "${type}"; known types: ${knownDriverTypes().join(', ')}`, {
      field: `systems.${system}.type`,
      retryable: false,
    });
  }
  let p = loaded.get(type);
  if (!p) {
    p = load().then((mod) => {
      const f = (mod as { factory?: unknown }).factory;
      if (!isDriverFactory(f) || f.type !== type) {
        throw new LockstepError('internal', `built-in driver ${type} does not export a factory of type "${type}"`, { retryable: false });
      }
      return f;
    });
    loaded.set(type, p);
    // A failed import is not cached: the next attempt (e.g. after a deploy fixed it) retries.
    p.catch(() => loaded.delete(type));
  }
  try {
    return await p;
  } catch (e) {
    if (e instanceof LockstepError) throw e;
    const why = e instanceof Error ? e.message : String(e);
    throw new LockstepError('config', `system ${system}: driver "${type}" could not be loaded: ${why}`, {
      field: `systems.${system}.type`,
      retryable: false,
      cause: e,
    });
  }
}

function isDriverFactory(f: unknown): f is DriverFactory {
  if (!f || typeof f !== 'object') return false;
  const o = f as Record<string, unknown>;
  return typeof o.type === 'string' && o.type.length > 0 && typeof o.create === 'function';
}
