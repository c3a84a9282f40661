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
  /** Sign-up sends a confirmation link, and user sessions wait until it is followed (default: off). */
  require_email_confirmation: boolean;
  /** This application's wording of the users module's mails; what is not given keeps the default. */
  email_templates: EmailTemplateOverrides;
  /** Largest blob a client may upload, in bytes (QuickBlox: 100 MB). */
  blob_max_size: number;
  /** Total bytes of the application's completed blobs, or null for no limit. */
  blob_storage_limit: number | null;
  /** Private blobs download only for their owner (default: for any session of the application, as QuickBlox). */
  blob_private_owner_only: boolean;
}

export type EmailTemplateName = 'reset_password' | 'confirm_email';
export interface EmailTemplate {
  subject: string;
  text: string;
}
export type EmailTemplateOverrides = Partial<Record<EmailTemplateName, Partial<EmailTemplate>>>;

export const DEFAULT_SETTINGS: AppSettings = {
  allow_app_session_signup: true,
  allow_app_session_list_users: true,
  facebook_app_secret: null,
  twitter_consumer_key: null,
  twitter_consumer_secret: null,
  firebase_project_ids: [],
  custom_identity_provider_url: null,
  require_email_confirmation: false,
  email_templates: {},
  blob_max_size: 100 * 1024 * 1024,
  blob_storage_limit: null,
  blob_private_owner_only: false,
};

/** Settings that hold a byte count. */
const BYTE_SETTINGS = new Set(['blob_max_size', 'blob_storage_limit']);

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
  if (name === 'email_templates') return parseEmailTemplates(value === '' ? {} : parseJson(name, value));
  if (BYTE_SETTINGS.has(name)) {
    if (value === '' && current === null) return null;
    if (!/^\d{1,15}$/.test(value) || Number(value) < 1) throw errors.validation(name, 'must be a whole number of bytes');
    return Number(value);
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

const TEMPLATE_NAMES: readonly string[] = ['reset_password', 'confirm_email'] satisfies EmailTemplateName[];
const TEMPLATE_LIMITS: Record<keyof EmailTemplate, number> = { subject: 255, text: 20_000 };

/** `{"reset_password":{"subject":"...","text":"..."}}`: known templates and fields only, strings within limits. */
export function parseEmailTemplates(value: unknown): EmailTemplateOverrides {
  const name = 'email_templates';
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw errors.validation(name, `must be an object of ${TEMPLATE_NAMES.join(', ')}`);
  }
  const out: Record<string, Partial<EmailTemplate>> = {};
  for (const [template, fields] of Object.entries(value)) {
    if (!TEMPLATE_NAMES.includes(template)) {
      throw errors.validation(`${name}.${template}`, `is not a template (known: ${TEMPLATE_NAMES.join(', ')})`);
    }
    if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) {
      throw errors.validation(`${name}.${template}`, 'must be an object with subject and text');
    }
    const checked: Partial<EmailTemplate> = {};
    for (const [field, text] of Object.entries(fields)) {
      const path = `${name}.${template}.${field}`;
      if (!Object.hasOwn(TEMPLATE_LIMITS, field)) throw errors.validation(path, 'is not a template field (known: subject, text)');
      const limit = TEMPLATE_LIMITS[field as keyof EmailTemplate];
      if (typeof text !== 'string' || text.trim() === '') throw errors.validation(path, 'must be a non-empty string');
      if (text.length > limit) throw errors.validation(path, `is too long (maximum is ${limit} characters)`);
      checked[field as keyof EmailTemplate] = text;
    }
    out[template] = checked;
  }
  return out;
}

function parseJson(name: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw errors.validation(name, 'must be JSON');
  }
}
