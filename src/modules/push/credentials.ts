import { createCipheriv, createDecipheriv, createPrivateKey, randomBytes, X509Certificate } from 'node:crypto';
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

  /** Keys are parsed here, so a bad one is a 422 now rather than a failed push later. */
  async setApns(applicationId: number, credentials: ApnsCredentials): Promise<void> {
    if (credentials.kind === 'token') {
      if (!/^[A-Z0-9]{10}$/.test(credentials.keyId)) throw errors.validation('apns_key_id', 'must be the 10-character key id');
      if (!/^[A-Z0-9]{10}$/.test(credentials.teamId)) throw errors.validation('apns_team_id', 'must be the 10-character team id');
      if (keyType(credentials.privateKey) !== 'ec') throw errors.validation('apns_key', 'must be the .p8 key (PEM)');
    } else {
      try {
        new X509Certificate(credentials.cert);
      } catch {
        throw errors.validation('apns_cert', 'must be a PEM certificate');
      }
      if (keyType(credentials.key, credentials.passphrase) === null) {
        throw errors.validation('apns_cert_key', 'must be the PEM private key of the certificate (and its passphrase)');
      }
    }
    if (credentials.topic !== undefined && !/^[A-Za-z0-9.-]{1,200}$/.test(credentials.topic)) {
      throw errors.validation('apns_topic', 'must be a bundle id');
    }
    await this.save(applicationId, 'apns', credentials);
  }

  /**
   * The owner's REST body for APNs: {key, key_id, team_id} (token auth) or
   * {cert, cert_key, passphrase} (certificate auth), both with an optional topic.
   */
  async setApnsFromParams(applicationId: number, params: Record<string, unknown>): Promise<void> {
    const str = (name: string) =>
      typeof params[name] === 'string' && params[name] !== '' ? (params[name] as string) : undefined;
    const topic = str('topic') ? { topic: str('topic') as string } : {};
    if (str('key') !== undefined) {
      await this.setApns(applicationId, {
        kind: 'token',
        keyId: str('key_id') ?? '',
        teamId: str('team_id') ?? '',
        privateKey: str('key') as string,
        ...topic,
      });
    } else if (str('cert') !== undefined) {
      await this.setApns(applicationId, {
        kind: 'certificate',
        cert: str('cert') as string,
        key: str('cert_key') ?? '',
        ...(str('passphrase') ? { passphrase: str('passphrase') as string } : {}),
        ...topic,
      });
    } else {
      throw errors.validation('apns', 'give key, key_id and team_id (token auth) or cert and cert_key (certificate auth)');
    }
  }

  /** What is set, without a secret: for the owner to check. */
  async summary(applicationId: number) {
    const [apns, fcm] = await Promise.all([this.apns(applicationId), this.fcm(applicationId)]);
    return {
      apns:
        apns === null
          ? null
          : apns.kind === 'token'
            ? { auth: 'token', key_id: apns.keyId, team_id: apns.teamId, topic: apns.topic ?? null }
            : { auth: 'certificate', subject: certificateSubject(apns.cert), topic: apns.topic ?? null },
      fcm: fcm === null ? null : { project_id: fcm.projectId, client_email: fcm.clientEmail },
    };
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
    if (keyType(private_key) !== 'rsa') throw errors.validation('fcm_service_account', 'private_key must be an RSA key (PEM)');
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

/** The key's type (ec, rsa, ...), or null when it does not parse. */
function keyType(pem: string, passphrase?: string): string | null {
  try {
    return createPrivateKey({ key: pem, ...(passphrase ? { passphrase } : {}) }).asymmetricKeyType ?? null;
  } catch {
    return null;
  }
}

function certificateSubject(pem: string): string | null {
  try {
    return new X509Certificate(pem).subject;
  } catch {
    return null;
  }
}
