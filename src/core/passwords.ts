import type * as Argon2 from '@node-rs/argon2';

// OWASP's minimum for argon2id: 19 MiB of memory, 2 iterations, 1 lane.
// Algorithm.Argon2id is a const enum member: its value, so the module can load on first use.
const OPTIONS = { algorithm: 2 satisfies Argon2.Algorithm.Argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

// The native module is loaded by the first password check, not at start-up.
let argon2: Promise<typeof Argon2> | undefined;
const load = () => {
  argon2 ??= import('@node-rs/argon2');
  return argon2;
};

export async function hashPassword(password: string): Promise<string> {
  return (await load()).hash(password, OPTIONS);
}

export async function verifyPassword(stored: string, password: string): Promise<boolean> {
  try {
    return await (await load()).verify(stored, password);
  } catch {
    return false;
  }
}

/** Verifying against this keeps "no such user" as slow as "wrong password". */
let decoy: Promise<string> | undefined;
export async function burnPasswordCheck(password: string): Promise<void> {
  decoy ??= hashPassword('switchboard-decoy-password');
  await verifyPassword(await decoy, password);
}
