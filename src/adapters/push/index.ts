import type { Config } from '../../config.js';
import type { Mailer } from '../mailer/types.js';
import { ApnsGateway } from './apns.js';
import { EmailGateway } from './email.js';
import { FcmGateway } from './fcm.js';
import type { PushGateways } from './types.js';

export type * from './types.js';
export { ApnsGateway, EmailGateway, FcmGateway };

/** One gateway per channel, at the hosts the config names (Apple's and Google's by default). */
export function createPushGateways(config: Pick<Config, 'push'>, mailer: Mailer, now: () => number = Date.now): PushGateways {
  const apns = new ApnsGateway({ production: config.push.apnsProductionUrl, development: config.push.apnsDevelopmentUrl }, now);
  const fcm = new FcmGateway(config.push.fcmUrl, config.push.fcmTokenUrl, now);
  const email = new EmailGateway(mailer);
  return { apns, fcm, email, close: async () => void (await Promise.all([apns.close(), fcm.close(), email.close()])) };
}
