/**
 * Where the engine reads "now". Engine code reads time through `EngineContext.now()`; the
 * composition root builds it from a Clock, so a test deployment can shift it (see
 * src/runtime/clock.ts) and tests can set it.
 */
export interface Clock {
  now(): Date;
}

/** The machine's clock. */
export const systemClock: Clock = { now: () => new Date() };

/** `base` moved by `offsetMs` (negative: into the past). An offset of 0 is `base` itself. */
export function offsetClock(offsetMs: number, base: Clock = systemClock): Clock {
  if (offsetMs === 0) return base;
  return { now: () => new Date(base.now().getTime() + offsetMs) };
}
