import { errors } from '../../core/errors.js';

/**
 * Per-application settings, stored as JSON on the application. Later modules
 * add their switches here with QuickBlox's defaults.
 */
export interface AppSettings {
  /** Application sessions may sign users up (QuickBlox default: allowed). */
  allow_app_session_signup: boolean;
  /** Application sessions may list users (QuickBlox default: allowed). */
  allow_app_session_list_users: boolean;
  /** The Facebook app's secret: when set, provider=facebook accepts only tokens issued to that app (appsecret_proof). */
  facebook_app_secret: string | null;
  /** The Twitter app whose consumer credentials sign the verify_credentials call of provider=twitter. */
  twitter_consumer_key: string | null;
  twitter_consumer_secret: string | null;
  /** Firebase projects whose phone sign-in ID tokens (provider=firebase_phone) this application accepts. */
  firebase_project_ids: string[];
  /** Custom identity provider: when set, user[login] + user[password] sign-in is verified by this URL. */
  custom_identity_provider_url: string | null;
}

export const DEFAULT_SETTINGS: AppSettings = {
  allow_app_session_signup: true,
  allow_app_session_list_users: true,
  facebook_app_secret: null,
  twitter_consumer_key: null,
  twitter_consumer_secret: null,
  firebase_project_ids: [],
  custom_identity_provider_url: null,
};

export function parseSettings(json: string): AppSettings {
  let stored: unknown;
  try {
    stored = JSON.parse(json);
  } catch {
    stored = {};
  }
  return { ...DEFAULT_SETTINGS, ...(typeof stored === 'object' && stored !== null ? stored : {}) };
}

/**
 * Reads one setting from text (the CLI's KEY=VALUE): true/false for switches,
 * comma-separated lists, an empty value for "none". Throws a 422 naming the
 * setting when the name or the value is not valid.
 */
export function parseSettingValue(name: string, text: string): AppSettings[keyof AppSettings] {
  if (!Object.hasOwn(DEFAULT_SETTINGS, name)) {
    throw errors.validation(name, `is not a setting (known: ${Object.keys(DEFAULT_SETTINGS).join(', ')})`);
  }
  const value = text.trim();
  const current = DEFAULT_SETTINGS[name as keyof AppSettings];
  if (typeof current === 'boolean') {
    if (value !== 'true' && value !== 'false') throw errors.validation(name, 'must be true or false');
    return value === 'true';
  }
  if (Array.isArray(current)) {
    const items = value === '' ? [] : value.split(',').map((item) => item.trim());
    if (items.some((item) => !/^[a-z0-9][a-z0-9-]{0,99}$/i.test(item))) {
      throw errors.validation(name, 'must be a comma-separated list of ids');
    }
    return [...new Set(items)];
  }
  if (value === '') return null;
  if (name.endsWith('_url')) {
    let url: URL | null = null;
    try {
      url = new URL(value);
    } catch {}
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:'))
      throw errors.validation(name, 'must be an http:// or https:// URL');
  }
  return value;
}
