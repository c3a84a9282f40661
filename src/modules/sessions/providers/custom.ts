import { ApiError, baseError } from '../../../core/errors.js';
import type { ProviderIdentity } from '../../users/service.js';
import { field, type ProviderContext, requestJson, text, unavailable } from './http.js';

const LABEL = 'The identity provider';

export interface CustomCredentials {
  login?: string;
  email?: string;
  password: string;
}

/**
 * Custom identity provider (QuickBlox Enterprise "CIdP"). As QuickBlox
 * documents it, the client signs in with the usual user[login] (the user's id
 * at the identity provider) and user[password] (a token the identity provider
 * gave it). Switchboard asks the application's identity provider:
 *
 *   POST <url>  {"application_id":7,"login":"...","email":null,"token":"..."}
 *
 * and expects 200 {"uid":"..." or 123, "login"?, "email"?, "full_name"?, "phone"?}.
 * uid identifies the user from then on. A 4xx answer is passed on to the
 * client with its status, body included when it has QuickBlox's "errors" shape.
 */
export async function verifyCustom(
  context: ProviderContext,
  url: string,
  applicationId: number,
  credentials: CustomCredentials,
): Promise<ProviderIdentity> {
  const answer = await requestJson(
    LABEL,
    url,
    {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({
        application_id: applicationId,
        login: credentials.login ?? null,
        email: credentials.email ?? null,
        token: credentials.password,
      }),
    },
    context.timeoutMs,
  );
  if (answer.status >= 400 && answer.status < 500) {
    const errors = field(answer.body, 'errors');
    if (isErrorList(errors)) throw new ApiError(answer.status, { errors });
    throw baseError(answer.status, 'The identity provider did not accept the credentials');
  }
  const raw = field(answer.body, 'uid');
  const uid = typeof raw === 'number' && Number.isSafeInteger(raw) ? String(raw) : text(raw);
  if (answer.status !== 200 || !uid || uid.length > 255) {
    throw unavailable(LABEL, answer.status === 200 ? 'the answer has no uid' : `unexpected answer, HTTP ${answer.status}`);
  }
  return {
    provider: 'custom',
    uid,
    login: text(field(answer.body, 'login')),
    email: text(field(answer.body, 'email')),
    fullName: text(field(answer.body, 'full_name')),
    phone: text(field(answer.body, 'phone')),
  };
}

/** QuickBlox's error shapes: a list of messages, or field names to lists of messages. */
function isErrorList(value: unknown): value is string[] | Record<string, string[]> {
  const isList = (item: unknown) => Array.isArray(item) && item.every((message) => typeof message === 'string');
  if (isList(value)) return (value as string[]).length > 0;
  if (value === null || typeof value !== 'object') return false;
  const entries = Object.values(value);
  return entries.length > 0 && entries.every(isList);
}
