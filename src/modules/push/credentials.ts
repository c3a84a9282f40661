import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { ApnsCredentials, FcmCredentials } from '../../adapters/push/types.js';
import type { Clock } from '../../core/clock.js';
import { errors } from '../../core/errors.js';
import type { PushStore } from './store.js';

/**
 * Per-application gateway credentials, set by the owner. Stored as
 * AES-256-GCM under PUSH_CREDENTIALS_KEY: a database dump alone does not
 * give away an APNs key or a service account.
 */
export class PushCredentials {
  constructor(
    private readonly store: PushStore,
    private readonly key: Buffer | null,
    private readonly clock: Clock,
  ) {}

  async setApns(applicationId: number, credentials: ApnsCredentials): Promise<void> {
    if (credentials.kind === 'token') {
      if (!/^[A-Z0-9]{10}$/.test(credentials.keyId)) throw errors.validation('apns_key_id', 'must be the 10-character key id');
      if (!/^[A-Z0-9]{10}$/.test(credentials.teamId)) throw errors.validation('apns_team_id', 'must be the 10-character team id');
      if (!credentials.privateKey.includes('PRIVATE KEY')) throw errors.validation('apns_key', 'must be the .p8 key (PEM)');
    }
    await this.save(applicationId, 'apns', credentials);
  }

  /** From the service-account JSON Google hands out. */
  async setFcm(applicationId: number, serviceAccountJson: string): Promise<void> {
    let account: Record<string, unknown>;
    try {
      account = JSON.parse(serviceAccountJson) as Record<string, unknown>;
    } catch {
      throw errors.validation('fcm_service_account', 'must be the service account JSON');
    }
    const { project_id, client_email, private_key, token_uri } = account;
    if (typeof project_id !== 'string' || typeof client_email !== 'string' || typeof private_key !== 'string') {
      throw errors.validation('fcm_service_account', 'needs project_id, client_email and private_key');
    }
    const credentials: FcmCredentials = {
      projectId: project_id,
      clientEmail: client_email,
      privateKey: private_key,
      ...(typeof token_uri === 'string' ? { tokenUri: token_uri } : {}),
    };
    await this.save(applicationId, 'fcm', credentials);
  }

  async remove(applicationId: number, service: 'apns' | 'fcm'): Promise<boolean> {
    return this.store.deleteCredential(applicationId, service);
  }

  apns(applicationId: number): Promise<ApnsCredentials | null> {
    return this.load(applicationId, 'apns') as Promise<ApnsCredentials | null>;
  }

  fcm(applicationId: number): Promise<FcmCredentials | null> {
    return this.load(applicationId, 'fcm') as Promise<FcmCredentials | null>;
  }

  private async save(applicationId: number, service: string, value: unknown): Promise<void> {
    if (!this.key) throw errors.unprocessable('PUSH_CREDENTIALS_KEY is not set: push credentials cannot be stored');
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(`${applicationId}:${service}`));
    const data = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
    const secret = `v1:${Buffer.concat([iv, cipher.getAuthTag(), data]).toString('base64')}`;
    await this.store.saveCredential(applicationId, service, secret, this.clock.now());
  }

  private async load(applicationId: number, service: string): Promise<unknown> {
    const secret = await this.store.credential(applicationId, service);
    if (!secret || !this.key || !secret.startsWith('v1:')) return null;
    const raw = Buffer.from(secret.slice(3), 'base64');
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
      decipher.setAAD(Buffer.from(`${applicationId}:${service}`));
      decipher.setAuthTag(raw.subarray(12, 28));
      return JSON.parse(Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8'));
    } catch {
      // Another key (rotated without re-entering credentials): as if none were set.
      return null;
    }
  }
}
