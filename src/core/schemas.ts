import { Type } from '@sinclair/typebox';

/**
 * A value of the given JSON type or null, as a type list rather than anyOf:
 * fast-json-stringify serialises `type: [x, 'null']` directly but checks every
 * anyOf branch against the value on each reply (measured on GET /users/{id}.json).
 */
export function Nullable<T>(type: 'string' | 'integer' | 'number' | 'boolean') {
  return Type.Unsafe<T | null>({ type: [type, 'null'] });
}

export const NullableText = Nullable<string>('string');
export const NullableInt = Nullable<number>('integer');
