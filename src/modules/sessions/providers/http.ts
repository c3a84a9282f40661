import { ApiError, baseError } from '../../../core/errors.js';

/** What every provider needs: the configured addresses and how long to wait for them. */
export interface ProviderContext {
  facebookGraphUrl: string;
  twitterApiUrl: string;
  firebaseJwksUrl: string;
  timeoutMs: number;
}

export interface JsonAnswer {
  status: number;
  /** The parsed body, or undefined when it was not JSON. */
  body: unknown;
}

/** Longest answer read from a provider; theirs are a few hundred bytes. */
const MAX_ANSWER_BYTES = 256 * 1024;

/**
 * One outbound request with a deadline. Any answer comes back, whatever its
 * status; only an unreachable, slow or oversized provider throws (422).
 */
export async function requestJson(label: string, url: string, init: RequestInit, timeoutMs: number): Promise<JsonAnswer> {
  let response: Response;
  let text: string;
  try {
    response = await fetch(url, { ...init, redirect: 'error', signal: AbortSignal.timeout(timeoutMs) });
    const length = Number(response.headers.get('content-length') ?? 0);
    if (length > MAX_ANSWER_BYTES) {
      await response.body?.cancel();
      throw unavailable(label, 'answer too large');
    }
    text = await response.text();
  } catch (error) {
    if (error instanceof ApiError) throw error;
    throw unavailable(label, failureReason(error));
  }
  if (text.length > MAX_ANSWER_BYTES) throw unavailable(label, 'answer too large');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: response.status, body };
}

/** The provider looked at the credentials and said no: 401. */
export function rejected(label: string, reason: string): ApiError {
  return baseError(401, `${label} did not accept the credentials: ${clip(reason)}`);
}

/** The provider could not give an answer (down, slow, garbled): 422, worth retrying later. */
export function unavailable(label: string, reason: string): ApiError {
  return baseError(422, `${label} could not verify the credentials right now (${clip(reason)})`);
}

/** A short, safe description of why a request failed: never the URL, which may carry a token. */
export function failureReason(error: unknown): string {
  const name = (error as Error | undefined)?.name;
  if (name === 'TimeoutError' || name === 'AbortError') return 'timed out';
  const cause = (error as { cause?: { code?: unknown } } | undefined)?.cause;
  if (typeof cause?.code === 'string') return cause.code;
  return 'request failed';
}

/** Reads a property of an unknown JSON value. */
export function field(value: unknown, key: string): unknown {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)[key]
    : undefined;
}

/** A JSON value as a non-empty string, when it is one. */
export function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function clip(reason: string): string {
  const oneLine = reason.replace(/\s+/g, ' ').trim();
  return oneLine.length > 200 ? `${oneLine.slice(0, 200)}…` : oneLine || 'no reason given';
}
