import { createRequire } from 'node:module';
import type { TestServer } from './server.js';

const require = createRequire(import.meta.url);

export type Callback<T> = (error: any, result: T) => void;

/** An official QuickBlox JS SDK instance pointed at a test server. */
export function createSdk(
  server: TestServer,
  app: { application_id: number; auth_key: string; auth_secret: string },
  config: Record<string, unknown> = {},
): any {
  // The SDK's config is a module singleton, so every instance shares it; one server per test file.
  const QB = require('quickblox');
  const sdk = new QB.QuickBlox();
  const log = console.log;
  console.log = () => {}; // init prints the platform
  try {
    sdk.init(app.application_id, app.auth_key, app.auth_secret, {
      endpoints: { api: server.apiHost, chat: 'localhost' },
      on: { sessionExpired: null },
      ...config,
    });
  } finally {
    console.log = log;
  }
  return sdk;
}

/** Turns an SDK callback call into a promise that rejects with the SDK's error object. */
export function call<T = any>(invoke: (callback: Callback<T>) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    invoke((error, result) => (error ? reject(error) : resolve(result)));
  });
}
