import type * as Jose from 'jose';
import type { Clock } from '../../../core/clock.js';
import type { ProviderIdentity } from '../../users/service.js';
import { failureReason, type ProviderContext, rejected, unavailable } from './http.js';

const LABEL = 'Firebase';
/** How far in the future iat and auth_time may be, for clocks that disagree a little. */
const CLOCK_SKEW_S = 60;

/**
 * provider=firebase_phone, firebase_phone[project_id] + [access_token]: the
 * access token is a Firebase ID token, a JWT signed (RS256) by Google with
 * keys published as a JWKS. Verified as Firebase documents: the signature,
 * aud = the project, iss = https://securetoken.google.com/<project>, exp
 * against the injected clock, iat and auth_time in the past, a sub, and a
 * phone_number (the token must come from phone sign-in).
 */
export class FirebaseVerifier {
  // One key set per process: jose caches the keys and refetches on an unknown key id.
  private keys: ReturnType<typeof Jose.createRemoteJWKSet> | undefined;

  constructor(
    private readonly context: ProviderContext,
    private readonly clock: Clock,
  ) {}

  async verify(projectId: string, idToken: string): Promise<ProviderIdentity> {
    // jose is loaded on the first phone sign-in: most servers never need it.
    const jose = await import('jose');
    this.keys ??= jose.createRemoteJWKSet(new URL(this.context.firebaseJwksUrl), { timeoutDuration: this.context.timeoutMs });
    const now = this.clock.now();
    let claims: Record<string, unknown>;
    try {
      const result = await jose.jwtVerify(idToken, this.keys, {
        algorithms: ['RS256'],
        audience: projectId,
        issuer: `https://securetoken.google.com/${projectId}`,
        currentDate: new Date(now),
        requiredClaims: ['exp', 'iat', 'sub'],
      });
      claims = result.payload;
    } catch (error) {
      throw verificationError(jose.errors, error);
    }
    const nowS = Math.floor(now / 1000);
    const { sub, iat, auth_time: authTime, phone_number: phone } = claims;
    if (typeof sub !== 'string' || sub === '' || sub.length > 128) throw rejected(LABEL, 'the token has no valid sub');
    if (typeof iat !== 'number' || iat > nowS + CLOCK_SKEW_S) throw rejected(LABEL, 'the token is issued in the future');
    if (typeof authTime !== 'number' || authTime > nowS + CLOCK_SKEW_S) {
      throw rejected(LABEL, 'the token has no valid auth_time');
    }
    if (typeof phone !== 'string' || !/^\+[0-9]{4,20}$/.test(phone)) {
      throw rejected(LABEL, 'the token is not from phone sign-in (no phone_number)');
    }
    return { provider: 'firebase_phone', uid: sub, phone };
  }
}

/** Key-set trouble (Google unreachable, a bad key set) is 422; anything wrong with the token is 401. */
function verificationError(jose: typeof Jose.errors, error: unknown) {
  if (error instanceof jose.JWKSTimeout) return unavailable(LABEL, 'the signing keys timed out');
  if (error instanceof jose.JWKSInvalid) return unavailable(LABEL, 'the signing keys are not a valid key set');
  if (error instanceof jose.JWTExpired) return rejected(LABEL, 'the token has expired');
  if (error instanceof jose.JWTClaimValidationFailed) return rejected(LABEL, `the token's ${error.claim} claim does not match`);
  if (error instanceof jose.JWSSignatureVerificationFailed) return rejected(LABEL, 'the token signature is invalid');
  if (error instanceof jose.JWKSNoMatchingKey) return rejected(LABEL, 'the token is not signed by a current Google key');
  if (error instanceof jose.JOSEAlgNotAllowed) return rejected(LABEL, 'the token is not signed with RS256');
  if (error instanceof jose.JWSInvalid || error instanceof jose.JWTInvalid) return rejected(LABEL, 'the token is malformed');
  if (error instanceof jose.JOSEError && error.code !== 'ERR_JOSE_GENERIC') return rejected(LABEL, error.message);
  // What is left is fetching the keys: an HTTP error from the key server (generic JOSEError) or no answer.
  const reason = error instanceof jose.JOSEError ? error.message : failureReason(error);
  return unavailable(LABEL, `the signing keys could not be fetched: ${reason}`);
}
