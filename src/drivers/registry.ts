import { LockstepError, toLockstepError } from '../domain/errors.js';
import type { DriverContext, DriverFactory, LockDriver } from './contract.js';

/**
 * Driver types by name. The registry knows no driver itself: the composition root
 * (src/runtime/drivers.ts) registers the built-in ones as loaders, imported on first use, so
 * a deployment that only talks to Gallagher never loads the simulator (and the other way
 * round); third-party drivers register a factory (or a loader) before the service starts.
 */

/** Imports a driver's module on first use and returns its factory. */
export type DriverLoader = () => Promise<DriverFactory>;

const registered = new Map<string, DriverFactory>();
const loaders = new Map<string, DriverLoader>();
const loaded = new Map<string, Promise<DriverFactory>>();

export interface RegisterOptions {
  /** Replace a factory already registered under the same type (tests, hot reload). */
  replace?: boolean;
}

/** Makes a driver type available to createDriver; it takes precedence over a loader of that name. */
export function registerDriver(factory: DriverFactory, opts: RegisterOptions = {}): void {
  if (!isDriverFactory(factory)) {
    throw new LockstepError('validation', 'a driver factory needs a non-empty `type` and a `create` function', { field: 'factory' });
  }
  if (registered.has(factory.type) && !opts.replace) {
    throw new LockstepError('conflict', `driver type ${factory.type} is already registered`, { field: 'type' });
  }
  registered.set(factory.type, factory);
}

/**
 * Makes a driver type available whose module is imported only when a system of that type is
 * created. The loader's factory must have the same `type`.
 */
export function registerDriverLoader(type: string, load: DriverLoader, opts: RegisterOptions = {}): void {
  if (typeof type !== 'string' || !type || typeof load !== 'function') {
    throw new LockstepError('validation', 'a driver loader needs a non-empty type and a function', { field: 'type' });
  }
  if (loaders.has(type) && !opts.replace) {
    throw new LockstepError('conflict', `driver type ${type} already has a loader`, { field: 'type' });
  }
  loaders.set(type, load);
  loaded.delete(type);
}

/** Removes a registered factory (not a loader) of this type; returns whether there was one. */
export function unregisterDriver(type: string): boolean {
  return registered.delete(type);
}

/** Every type createDriver knows, sorted. */
export function knownDriverTypes(): string[] {
  return [...new Set([...loaders.keys(), ...registered.keys()])].sort();
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
  const load = loaders.get(type);
  if (!load) {
    const known = knownDriverTypes();
    const hint = known.length ? `known types: ${known.join(', ')}` : 'no driver types are registered (the service registers its built-in ones at start)';
    throw new LockstepError('config', `system ${system}: unknown driver type "${type}"; ${hint}`, {
      field: `systems.${system}.type`,
      retryable: false,
    });
  }
  let p = loaded.get(type);
  if (!p) {
    p = load().then((f: unknown) => {
      if (!isDriverFactory(f) || f.type !== type) {
        throw new LockstepError('internal', `the loader of driver ${type} did not return a factory of type "${type}"`, { retryable: false });
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
