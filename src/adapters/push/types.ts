/** What a gateway made of one push. */
export type DeliveryResult =
  | { outcome: 'sent' }
  /** The token will never work again (uninstalled app, bad token): its subscription goes. */
  | { outcome: 'dead'; reason: string }
  /** Worth another try later (throttled, gateway down, expired auth token). */
  | { outcome: 'retry'; reason: string; retryAfterMs?: number }
  /** Refused for good, but the token may still be fine (bad payload, bad credentials). */
  | { outcome: 'failed'; reason: string };

/** APNs provider credentials: a .p8 signing key (token auth) or a TLS client certificate. */
export type ApnsCredentials =
  | { kind: 'token'; keyId: string; teamId: string; privateKey: string; topic?: string }
  | { kind: 'certificate'; cert: string; key: string; passphrase?: string; topic?: string };

/** The fields of a Google service-account JSON that FCM HTTP v1 needs. */
export interface FcmCredentials {
  projectId: string;
  clientEmail: string;
  privateKey: string;
  /** The service account's token_uri; FCM_TOKEN_URL overrides it. */
  tokenUri?: string;
}

export interface ApnsNotification {
  token: string;
  environment: 'development' | 'production';
  /** The app's bundle id, with .voip for VoIP pushes. */
  topic: string;
  pushType: 'alert' | 'background' | 'voip';
  payload: Record<string, unknown>;
  collapseId?: string;
  credentials: ApnsCredentials;
}

export interface FcmNotification {
  token: string;
  data: Record<string, string>;
  collapseKey?: string;
  credentials: FcmCredentials;
}

export interface EmailNotification {
  to: string;
  subject: string;
  text: string;
}

/**
 * Delivers one notification to one device (or address). Implementations
 * never throw for a refused push: every answer is a DeliveryResult.
 */
export interface PushGateway<N> {
  readonly channel: 'apns' | 'fcm' | 'email';
  send(notification: N): Promise<DeliveryResult>;
  close(): Promise<void>;
}

export interface PushGateways {
  apns: PushGateway<ApnsNotification>;
  fcm: PushGateway<FcmNotification>;
  email: PushGateway<EmailNotification>;
  close(): Promise<void>;
}
