import { describe, expect, it } from 'vitest';
import { isoInstantMs, isoOfMs, parseMs } from '../../../src/domain/time.js';

describe('the instant memo', () => {
  it('formats and parses as toISOString and Date.parse do, also when remembered', () => {
    const ms = Date.UTC(2024, 2, 1, 8, 30);
    for (let i = 0; i < 2; i++) {
      expect(isoOfMs(ms)).toBe('2024-03-01T08:30:00.000Z');
      expect(parseMs('2024-03-01T09:30:00+01:00')).toBe(ms);
      expect(parseMs('not a date')).toBeNaN();
    }
    expect(() => isoOfMs(Number.NaN)).toThrow(RangeError);
  });

  it('reads only ISO dates and date-times as instants', () => {
    expect(isoInstantMs('2024-03-01')).toBe(Date.UTC(2024, 2, 1));
    expect(isoInstantMs('2024-03-01T08:30:00Z')).toBe(Date.UTC(2024, 2, 1, 8, 30));
    // Date.parse reads both of these
    expect(isoInstantMs('1')).toBeNaN();
    expect(isoInstantMs('Mar 1 2024')).toBeNaN();
    expect(isoInstantMs('2024-13-45')).toBeNaN();
  });
});
