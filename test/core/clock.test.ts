import { describe, expect, it } from 'vitest';
import { isoSeconds } from '../../src/core/clock.js';

/** What QuickBlox writes: toISOString without the milliseconds. */
const reference = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

describe('isoSeconds', () => {
  it('writes what toISOString does, without milliseconds, for any time', () => {
    const times = [0, 999, 1000, 86_399_999, 86_400_000, -1, -86_400_001, 1_764_806_399_999, 253_402_300_799_000];
    let x = 0x2545f491;
    for (let i = 0; i < 5000; i++) {
      // A fixed xorshift sequence: spread over 1900-2100, and runs of times on one day, in and out of order.
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      const base = -2_208_988_800_000 + (Math.abs(x) % 6_311_433_600) * 1000;
      times.push(base + (i % 7) * 3_600_123, base - (i % 3) * 61_001);
    }
    for (const ms of times) expect(isoSeconds(ms), String(ms)).toBe(reference(ms));
  });

  it('still refuses a time that is not one', () => {
    expect(() => isoSeconds(Number.NaN)).toThrow(RangeError);
  });
});
