import { createHmac } from 'node:crypto';
import type { ProviderIdentity } from '../../users/service.js';
import { field, type ProviderContext, rejected, requestJson, text, unavailable } from './http.js';

const LABEL = 'Facebook';

/**
 * provider=facebook, keys[token]: asks the Graph API who the access token
 * belongs to. With the application's Facebook app secret set, the call also
 * carries appsecret_proof, so Facebook refuses tokens issued to other apps.
 */
export async function verifyFacebook(
  context: ProviderContext,
  token: string,
  appSecret: string | null,
): Promise<ProviderIdentity> {
  const url = new URL(`${context.facebookGraphUrl}/me`);
  url.searchParams.set('fields', 'id,name,email');
  url.searchParams.set('access_token', token);
  if (appSecret) url.searchParams.set('appsecret_proof', createHmac('sha256', appSecret).update(token).digest('hex'));

  const answer = await requestJson(LABEL, url.toString(), { headers: { accept: 'application/json' } }, context.timeoutMs);
  const error = field(answer.body, 'error');
  // Graph answers a bad token with 400 (sometimes 401/403) and {"error":{"message":...,"type":"OAuthException"}}.
  if (answer.status >= 400 && answer.status < 500 && error !== undefined) {
    throw rejected(LABEL, text(field(error, 'message')) ?? 'invalid token');
  }
  const id = text(field(answer.body, 'id'));
  if (answer.status !== 200 || !id) throw unavailable(LABEL, `unexpected answer, HTTP ${answer.status}`);
  return {
    provider: 'facebook',
    uid: id,
    fullName: text(field(answer.body, 'name')),
    email: text(field(answer.body, 'email')),
  };
}
