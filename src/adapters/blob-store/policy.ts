import { createHmac, timingSafeEqual } from 'node:crypto';
import { UploadRefused } from './types.js';

/**
 * S3's browser-upload POST policy (Signature Version 4), signed and checked
 * the way S3 does it, so the local store's upload endpoint refuses exactly
 * what S3 would: a base64 JSON document with an expiration and conditions,
 * signed with a key derived from the secret and the credential's scope.
 */
export type Condition = Record<string, string> | [string, string | number, string | number];

export interface Policy {
  expiration: string;
  conditions: Condition[];
}

export const ALGORITHM = 'AWS4-HMAC-SHA256';
const SERVICE = 's3';
const REGION = 'local';

/** 20260102T030405Z */
export function amzDate(ms: number): string {
  return `${new Date(ms).toISOString().replace(/[-:]/g, '').slice(0, 15)}Z`;
}

function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

function signingKey(secret: string, day: string, region: string): Buffer {
  return hmac(hmac(hmac(hmac(`AWS4${secret}`, day), region), SERVICE), 'aws4_request');
}

export function sign(secret: string, accessKeyId: string, policy: Policy, nowMs: number): Record<string, string> {
  const date = amzDate(nowMs);
  const day = date.slice(0, 8);
  const credential = `${accessKeyId}/${day}/${REGION}/${SERVICE}/aws4_request`;
  const full: Policy = {
    expiration: policy.expiration,
    conditions: [
      ...policy.conditions,
      { 'x-amz-algorithm': ALGORITHM },
      { 'x-amz-credential': credential },
      { 'x-amz-date': date },
    ],
  };
  const encoded = Buffer.from(JSON.stringify(full)).toString('base64');
  return {
    policy: encoded,
    'x-amz-algorithm': ALGORITHM,
    'x-amz-credential': credential,
    'x-amz-date': date,
    'x-amz-signature': hmac(signingKey(secret, day, REGION), encoded).toString('hex'),
  };
}

/** The checked policy's size limits; the caller enforces them while the bytes arrive. */
export interface Verified {
  key: string;
  minBytes: number;
  maxBytes: number;
}

const denied = (message: string) => new UploadRefused(403, 'AccessDenied', message);
const bad = (code: string, message: string) => new UploadRefused(400, code, message);

/** Checks the fields that came before the file against their signed policy; throws UploadRefused like S3. */
export function verify(secret: string, accessKeyId: string, fields: Record<string, string>, nowMs: number): Verified {
  const get = (name: string) => fields[name.toLowerCase()];
  const encoded = get('policy');
  const signature = get('x-amz-signature');
  if (encoded === undefined || signature === undefined) {
    throw bad('InvalidArgument', 'Bucket POST must contain a field named policy and x-amz-signature');
  }
  if (get('x-amz-algorithm') !== ALGORITHM) throw bad('InvalidArgument', `x-amz-algorithm must be ${ALGORITHM}`);
  const scope = /^([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request$/.exec(get('x-amz-credential') ?? '');
  if (!scope) throw bad('InvalidArgument', 'x-amz-credential is malformed');
  if (scope[1] !== accessKeyId) throw denied('The AWS Access Key Id you provided does not exist in our records.');
  const expected = hmac(signingKey(secret, scope[2] as string, scope[3] as string), encoded);
  const given = Buffer.from(/^[0-9a-f]{64}$/.test(signature) ? signature : '', 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new UploadRefused(
      403,
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided.',
    );
  }
  // Signed, so it is ours; still read it defensively.
  let policy: Policy;
  try {
    policy = JSON.parse(Buffer.from(encoded, 'base64').toString('utf8'));
  } catch {
    throw bad('InvalidPolicyDocument', 'Invalid Policy: Invalid JSON.');
  }
  const expires = Date.parse(policy?.expiration ?? '');
  if (!Number.isFinite(expires) || !Array.isArray(policy.conditions)) {
    throw bad('InvalidPolicyDocument', 'Invalid Policy: expiration and conditions are required.');
  }
  if (expires <= nowMs) throw denied('Invalid according to Policy: Policy expired.');

  const covered = new Set(['policy', 'x-amz-signature', 'file']);
  let minBytes = 0;
  let maxBytes = Number.MAX_SAFE_INTEGER;
  const failed = (condition: Condition) =>
    denied(`Invalid according to Policy: Policy Condition failed: ${JSON.stringify(condition)}`);
  for (const condition of policy.conditions) {
    if (Array.isArray(condition)) {
      const [op, name, value] = condition;
      if (op === 'content-length-range') {
        minBytes = Number(name);
        maxBytes = Number(value);
        continue;
      }
      const field = String(name).replace(/^\$/, '').toLowerCase();
      covered.add(field);
      const actual = fields[field] ?? '';
      if (op === 'eq' && actual !== String(value)) throw failed(condition);
      if (op === 'starts-with' && !actual.startsWith(String(value))) throw failed(condition);
      if (op !== 'eq' && op !== 'starts-with') throw bad('InvalidPolicyDocument', `Invalid Policy: unknown operation ${op}.`);
      continue;
    }
    for (const [name, value] of Object.entries(condition)) {
      const field = name.toLowerCase();
      if (field === 'bucket') continue;
      covered.add(field);
      if (fields[field] !== value) throw failed(condition);
    }
  }
  const extra = Object.keys(fields).filter((name) => !covered.has(name) && !name.startsWith('x-ignore-'));
  if (extra.length > 0) throw denied(`Invalid according to Policy: Extra input fields: ${extra.join(', ')}`);
  const key = get('key');
  if (key === undefined) throw bad('InvalidArgument', 'Bucket POST must contain a field named key.');
  return { key, minBytes, maxBytes };
}
