import { describe, expect, it } from 'vitest';
import { LockstepError } from '../../../src/domain/errors.js';
import { clockFromEnv } from '../../../src/runtime/clock.js';

function warnings(): { warn: (o: object, msg?: string) => void; lines: string[] } {
  const lines: string[] = [];
  return { warn: (_o, msg) => void lines.push(msg ?? ''), lines };
}

const near = (d: Date, expected: number) => expect(Math.abs(d.getTime() - expected)).toBeLessThan(1000);

describe('clockFromEnv', () => {
  it('is the machine clock without LOCKSTEP_CLOCK_OFFSET, and says nothing', () => {
    const log = warnings();
    near(clockFromEnv({}, log).now(), Date.now());
    near(clockFromEnv({ LOCKSTEP_CLOCK_OFFSET: ' ' }, log).now(), Date.now());
    expect(log.lines).toEqual([]);
  });

  it('shifts now by an ISO 8601 duration or a number of milliseconds, and warns loudly', () => {
    const log = warnings();
    near(clockFromEnv({ LOCKSTEP_CLOCK_OFFSET: 'P3D' }, log).now(), Date.now() + 3 * 86_400_000);
    near(clockFromEnv({ LOCKSTEP_CLOCK_OFFSET: 'PT2H' }, log).now(), Date.now() + 7_200_000);
    near(clockFromEnv({ LOCKSTEP_CLOCK_OFFSET: '-PT30M' }, log).now(), Date.now() - 1_800_000);
    near(clockFromEnv({ LOCKSTEP_CLOCK_OFFSET: '90000' }, log).now(), Date.now() + 90_000);
    near(clockFromEnv({ LOCKSTEP_CLOCK_OFFSET: '-5000', NODE_ENV: 'test' }, log).now(), Date.now() - 5000);
    expect(log.lines).toHaveLength(5);
    expect(log.lines[0]).toMatch(/LOCKSTEP_CLOCK_OFFSET is set: the engine's clock is shifted by P3D .*TEST DEPLOYMENTS ONLY/);
  });

  it('refuses an offset in production mode, naming LOCKSTEP_CLOCK_OFFSET', () => {
    let err: unknown;
    try {
      clockFromEnv({ LOCKSTEP_CLOCK_OFFSET: 'PT2H', NODE_ENV: 'production' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LockstepError);
    expect(err).toMatchObject({
      code: 'config',
      field: 'LOCKSTEP_CLOCK_OFFSET',
      message: expect.stringMatching(/^LOCKSTEP_CLOCK_OFFSET is set .* NODE_ENV is production/),
    });
    // production without an offset is the ordinary case
    near(clockFromEnv({ NODE_ENV: 'production' }).now(), Date.now());
  });

  it('refuses what is not a duration or a number, naming the variable', () => {
    expect(() => clockFromEnv({ LOCKSTEP_CLOCK_OFFSET: '3 days' })).toThrow(/^LOCKSTEP_CLOCK_OFFSET: "3 days" is not an ISO 8601 duration/);
    expect(() => clockFromEnv({ LOCKSTEP_CLOCK_OFFSET: 'P1M' })).toThrow(/years and months have no fixed length/);
    expect(() => clockFromEnv({ LOCKSTEP_CLOCK_OFFSET: '1e99' })).toThrow(LockstepError);
  });
});
