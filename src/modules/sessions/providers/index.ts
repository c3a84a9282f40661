import type { Clock } from '../../../core/clock.js';
import { errors, fieldErrors } from '../../../core/errors.js';
import type { Application } from '../../apps/service.js';
import type { ProviderIdentity } from '../../users/service.js';
import { type CustomCredentials, verifyCustom } from './custom.js';
import { verifyFacebook } from './facebook.js';
import { FirebaseVerifier } from './firebase.js';
import type { ProviderContext } from './http.js';
import { verifyTwitter } from './twitter.js';

export type { ProviderContext } from './http.js';

/** The sign-in parameters of POST /session.json and POST /login.json, as they arrived. */
export interface ProviderParams {
  provider?: unknown;
  keys?: unknown;
  firebase_phone?: unknown;
}

/**
 * Verifies social, phone and custom identity provider sign-ins and says who
 * the person is. Each provider lives in its own file; this picks one by name
 * and checks the parameters and application settings it needs.
 */
export class SignInProviders {
  private readonly firebase: FirebaseVerifier;

  constructor(
    private readonly context: ProviderContext,
    private readonly clock: Clock,
  ) {
    this.firebase = new FirebaseVerifier(context, clock);
  }

  /** provider=facebook | twitter | firebase_phone. */
  async verify(app: Application, params: ProviderParams): Promise<ProviderIdentity> {
    const provider = params.provider;
    const settings = app.settings;
    switch (provider) {
      case 'facebook': {
        const token = required(params.keys, 'keys', 'token');
        return verifyFacebook(this.context, token, setting(settings.facebook_app_secret));
      }
      case 'twitter': {
        const token = required(params.keys, 'keys', 'token');
        const secret = required(params.keys, 'keys', 'secret');
        const key = setting(settings.twitter_consumer_key);
        const consumerSecret = setting(settings.twitter_consumer_secret);
        if (!key || !consumerSecret) throw errors.validation('provider', 'twitter is not set up for this application');
        return verifyTwitter(this.context, this.clock, { key, secret: consumerSecret }, token, secret);
      }
      case 'firebase_phone': {
        const projectId = required(params.firebase_phone, 'firebase_phone', 'project_id');
        const token = required(params.firebase_phone, 'firebase_phone', 'access_token');
        const allowed = Array.isArray(settings.firebase_project_ids) ? settings.firebase_project_ids : [];
        if (!allowed.includes(projectId)) {
          throw errors.validation('firebase_phone.project_id', 'is not a Firebase project of this application');
        }
        return this.firebase.verify(projectId, token);
      }
      case 'twitter_digits':
        throw errors.validation('provider', 'twitter_digits is retired; use firebase_phone');
      default:
        throw errors.validation('provider', 'must be facebook, twitter or firebase_phone');
    }
  }

  /** Whether password sign-in of this application goes to its custom identity provider. */
  usesCustomIdentityProvider(app: Application): boolean {
    return setting(app.settings.custom_identity_provider_url) !== null;
  }

  /** user[login]/user[password] (or login/password) checked by the application's custom identity provider. */
  verifyCustom(app: Application, credentials: CustomCredentials): Promise<ProviderIdentity> {
    const url = setting(app.settings.custom_identity_provider_url);
    if (!url) throw errors.validation('provider', 'no custom identity provider is set up for this application');
    return verifyCustom(this.context, url, app.id, credentials);
  }
}

/** A string sub-parameter (keys[token]) that must be there. */
function required(group: unknown, name: string, key: string): string {
  const value = group !== null && typeof group === 'object' ? (group as Record<string, unknown>)[key] : undefined;
  if (typeof value !== 'string' || value.trim() === '') throw fieldErrors(422, { [`${name}.${key}`]: ["can't be blank"] });
  return value.trim();
}

/** A string setting, or null; settings are JSON written by older versions too. */
function setting(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}
