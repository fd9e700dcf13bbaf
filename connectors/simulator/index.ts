import type { DriverFactory } from '../../src/drivers/contract.js';
import { createSimulatorDriver } from './driver.js';

export { SimulatorDriver, createSimulatorDriver, simulatorOptionsSchema, type SimulatorDriverOptions } from './driver.js';
export { loadSeed, applySeed, type SeedRow } from './seed.js';
export { startSimulator, faultInputSchema, type SimulatorOptions, type RunningSimulator, type Faults, type FaultInput } from './server.js';
export {
  SimulatorState,
  DEFAULT_GROUPS,
  DEFAULT_PROFILE,
  type SimProfile,
  type SimGroup,
  type SimAccount,
  type SimAccountCompact,
  type SimMembership,
  type SimCredential,
  type SimEvent,
  type SimChange,
  type SimulatorExport,
  type SwipeInput,
  type SwipeResult,
  type SwipeReason,
} from './state.js';

/** Driver type `simulator`: lockstep's own reference lock system. */
export const factory: DriverFactory = {
  type: 'simulator',
  create: async (ctx) => {
    const d = createSimulatorDriver(ctx);
    // not reachable yet (a CLI command before the simulator starts): a full online system until the next start
    await d
      .discover()
      .catch((e: unknown) => ctx.logger?.warn({ err: (e as Error).message }, 'simulator: capabilities not read; driving it as a full online system'));
    return d;
  },
};
