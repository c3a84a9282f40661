import * as crypto from 'node:crypto';
import { createHash, randomBytes } from 'node:crypto';

let counter = randomBytes(3).readUIntBE(0, 3);
const processRandom = randomBytes(5).toString('hex');

/**
 * A 24-hex, time-ordered id in MongoDB ObjectId layout (4 bytes of seconds,
 * 5 random bytes per process, 3-byte counter), as QuickBlox uses for
 * dialogs, messages and custom-object records.
 */
export function objectId(nowMs = Date.now()): string {
  counter = (counter + 1) % 0xffffff;
  const seconds = Math.floor(nowMs / 1000)
    .toString(16)
    .padStart(8, '0');
  return seconds + processRandom + counter.toString(16).padStart(6, '0');
}

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A random string of letters and digits, like QuickBlox auth keys and secrets. */
export function randomKey(length: number): string {
  const bytes = randomBytes(length * 2);
  let out = '';
  for (const byte of bytes) {
    // 248 = 4 * 62: reject the top of the range so every character is equally likely.
    if (byte < 248) out += ALPHANUMERIC[byte % 62];
    if (out.length === length) return out;
  }
  return out + randomKey(length - out.length);
}

/** A bearer secret (session token, API key): 160 random bits as hex. */
export function randomToken(): string {
  return randomBytes(20).toString('hex');
}

// crypto.hash (Node 20.12+) skips the Hash object: it runs on every request that carries a token.
const oneShotHash = (crypto as { hash?: (algorithm: string, data: string, encoding: 'hex') => string }).hash;

/** Bearer secrets are stored only as this hash. */
export function hashSecret(secret: string): string {
  if (oneShotHash) return oneShotHash('sha256', secret, 'hex');
  return createHash('sha256').update(secret).digest('hex');
}
