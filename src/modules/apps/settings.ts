/**
 * Per-application settings, stored as JSON on the application. Later modules
 * add their switches here with QuickBlox's defaults.
 */
export interface AppSettings {
  /** Application sessions may sign users up (QuickBlox default: allowed). */
  allow_app_session_signup: boolean;
  /** Application sessions may list users (QuickBlox default: allowed). */
  allow_app_session_list_users: boolean;
}

export const DEFAULT_SETTINGS: AppSettings = {
  allow_app_session_signup: true,
  allow_app_session_list_users: true,
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
