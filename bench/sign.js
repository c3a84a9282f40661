// Signs POST /session.json parameters the way the official SDKs do: the
// `key=value` pairs sorted and joined with `&`, HMAC-SHA1 hex keyed by the
// auth_secret. Written apart from the server's code on purpose.
import { createHmac, randomInt } from 'node:crypto';

export function sign(params, secret) {
  const message = Object.entries(params)
    .map(([key, value]) => `${key}=${value}`)
    .sort()
    .join('&');
  return createHmac('sha1', secret).update(message).digest('hex');
}

/**
 * A factory of signed form bodies (`extra`: more signed parameters, e.g. user[login]). The server refuses a replayed signature,
 * so each body gets its own nonce: a counter from a random start, so that no
 * two bodies signed in the same second can collide.
 */
export function sessionForms(app, extra = {}) {
  let nonce = randomInt(1, 2 ** 40);
  return () => {
    nonce += 1;
    const params = {
      application_id: String(app.application_id),
      auth_key: app.auth_key,
      nonce: String(nonce),
      timestamp: String(Math.floor(Date.now() / 1000)),
      ...extra,
    };
    return new URLSearchParams({ ...params, signature: sign(params, app.auth_secret) }).toString();
  };
}
