import { createHmac } from 'node:crypto';
import type { Clock } from '../../../core/clock.js';
import type { ProviderIdentity } from '../../users/service.js';
import { field, type ProviderContext, rejected, requestJson, text, unavailable } from './http.js';

const LABEL = 'Twitter';

export interface TwitterConsumer {
  key: string;
  secret: string;
}

/**
 * provider=twitter, keys[token] + keys[secret]: calls verify_credentials as
 * the user, signed (OAuth 1.0a, HMAC-SHA1) with the application's Twitter
 * consumer key and secret and the user's token and token secret.
 */
export async function verifyTwitter(
  context: ProviderContext,
  clock: Clock,
  consumer: TwitterConsumer,
  token: string,
  tokenSecret: string,
): Promise<ProviderIdentity> {
  const url = `${context.twitterApiUrl}/1.1/account/verify_credentials.json?include_email=true&skip_status=true`;
  // Loaded on the first Twitter sign-in: most servers never need it.
  const { default: OAuth } = await import('oauth-1.0a');
  const oauth = new OAuth({
    consumer,
    signature_method: 'HMAC-SHA1',
    hash_function: (base, key) => createHmac('sha1', key).update(base).digest('base64'),
  });
  // The timestamp comes from the injected clock, like every time in Switchboard.
  oauth.getTimeStamp = () => Math.floor(clock.now() / 1000);
  const authorization = oauth.toHeader(oauth.authorize({ url, method: 'GET' }, { key: token, secret: tokenSecret }));

  const answer = await requestJson(LABEL, url, { headers: { ...authorization, accept: 'application/json' } }, context.timeoutMs);
  // A bad or revoked token: 401 {"errors":[{"code":89,"message":"Invalid or expired token."}]}.
  if (answer.status === 400 || answer.status === 401 || answer.status === 403) {
    const list = field(answer.body, 'errors');
    const first = Array.isArray(list) ? list[0] : undefined;
    throw rejected(LABEL, text(field(first, 'message')) ?? `HTTP ${answer.status}`);
  }
  const id = text(field(answer.body, 'id_str'));
  if (answer.status !== 200 || !id) throw unavailable(LABEL, `unexpected answer, HTTP ${answer.status}`);
  return {
    provider: 'twitter',
    uid: id,
    fullName: text(field(answer.body, 'name')),
    email: text(field(answer.body, 'email')),
  };
}
