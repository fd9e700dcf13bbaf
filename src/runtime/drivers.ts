import { createDriver, registerDriverLoader } from '../drivers/registry.js';
import type { DriverContext, LockDriver } from '../drivers/contract.js';

/**
 * The built-in driver types, registered by the composition root so that the registry
 * (src/drivers) knows no connector. Each is a dynamic import, taken when a system of that type
 * is first created: a Gallagher-only deployment never loads the simulator, and the other way round.
 */
const BUILTIN_DRIVERS = {
  simulator: async () => (await import('../../connectors/simulator/index.js')).factory,
  gallagher: async () => (await import('../../connectors/gallagher/index.js')).factory,
  openpath: async () => (await import('../../connectors/openpath/index.js')).factory,
  uhppoted: async () => (await import('../../connectors/uhppoted/index.js')).factory,
  lenel: async () => (await import('../../connectors/lenel/index.js')).factory,
  salto: async () => (await import('../../connectors/salto/index.js')).factory,
  genetec: async () => (await import('../../connectors/genetec/index.js')).factory,
  kentix: async () => (await import('../../connectors/kentix/index.js')).factory,
  keyless: async () => (await import('../../connectors/keyless/index.js')).factory,
} as const;

let registeredBuiltins = false;

/** Registers the built-in driver loaders once; calling it again does nothing. */
export function registerBuiltinDrivers(): void {
  if (registeredBuiltins) return;
  for (const [type, load] of Object.entries(BUILTIN_DRIVERS)) registerDriverLoader(type, load);
  registeredBuiltins = true;
}

/** createDriver with the built-in types registered: what the engine, tests and benchmarks use. */
export async function createConfiguredDriver(type: string, ctx: DriverContext): Promise<LockDriver> {
  registerBuiltinDrivers();
  return createDriver(type, ctx);
}
