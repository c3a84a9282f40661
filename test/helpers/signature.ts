import { createHmac, randomInt } from 'node:crypto';

/**
 * Signs session parameters the way the official SDKs do (sdk-client-notes §3.1),
 * written independently of the server's code so a bug there cannot hide here.
 * Keys are flat, brackets written out: {'user[login]': 'x'}.
 */
export function sign(params: Record<string, string>, secret: string, algorithm: 'sha1' | 'sha256' = 'sha1'): string {
  const message = Object.entries(params)
    .map(([key, value]) => `${key}=${value}`)
    .sort()
    .join('&');
  return createHmac(algorithm, secret).update(message).digest('hex');
}

export interface AppCredentials {
  application_id: number;
  auth_key: string;
  auth_secret: string;
}

/** A complete, correctly signed POST /session.json form body. */
export function sessionForm(
  app: AppCredentials,
  nowMs: number,
  extra: Record<string, string> = {},
  algorithm: 'sha1' | 'sha256' = 'sha1',
): Record<string, string> {
  const params: Record<string, string> = {
    application_id: String(app.application_id),
    auth_key: app.auth_key,
    nonce: String(randomInt(1, 2 ** 31)),
    timestamp: String(Math.floor(nowMs / 1000)),
    ...extra,
  };
  return { ...params, signature: sign(params, app.auth_secret, algorithm) };
}
