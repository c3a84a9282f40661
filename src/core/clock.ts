/** Time comes from here, so expiry and schedules are testable without sleeping. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock that only moves when told to; for tests. */
export class ManualClock implements Clock {
  constructor(private current = Date.now()) {}
  now(): number {
    return this.current;
  }
  advance(ms: number): void {
    this.current += ms;
  }
  set(ms: number): void {
    this.current = ms;
  }
}

const DAY_MS = 86_400_000;
// Pages format two dates per item, mostly of few days; the day's text is kept, the time worked out.
let lastDay = Number.NaN;
let lastDayText = '';

const two = (n: number) => (n < 10 ? `0${n}` : String(n));

/** ISO 8601 without milliseconds, as QuickBlox writes dates: 2012-04-03T07:34:48Z */
export function isoSeconds(ms: number): string {
  const day = Math.floor(ms / DAY_MS);
  if (day !== lastDay) {
    // toISOString throws on an invalid time, as before; years beyond 9999 get its own format.
    lastDayText = new Date(day * DAY_MS).toISOString().slice(0, -13);
    lastDay = day;
  }
  const second = Math.floor((ms - day * DAY_MS) / 1000);
  return `${lastDayText}${two(Math.floor(second / 3600))}:${two(Math.floor(second / 60) % 60)}:${two(second % 60)}Z`;
}

// Every request with a token sends this header, and all those in the same second send the same text.
let lastExpirationSecond = Number.NaN;
let lastExpirationText = '';

/** The QB-Token-ExpirationDate format the SDK can parse: 2030-01-01 10:00:00 UTC */
export function expirationHeader(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second !== lastExpirationSecond) {
    lastExpirationText = `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
    lastExpirationSecond = second;
  }
  return lastExpirationText;
}
