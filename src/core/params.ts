import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import qs from 'qs';
import { ApiError, baseError } from './errors.js';

/**
 * Request parameters arrive as bracket keys (`user[login]`, `filter[]`,
 * `a[b][]`) in query strings and in form, JSON and multipart bodies, and on
 * DELETE too. They all end up as the same nested object, parsed by qs, which
 * decodes percent-encoded keys (`name%5Bctn%5D`) before reading brackets.
 */
const QS_OPTIONS: qs.IParseOptions = {
  depth: 5,
  arrayLimit: 100,
  parameterLimit: 1000,
  allowPrototypes: false,
  strictDepth: false,
};

export function parseParams(text: string): Record<string, unknown> {
  return qs.parse(text, QS_OPTIONS) as Record<string, unknown>;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route reads multipart parts itself (file uploads); do not collect them into the body. */
    multipartStream?: boolean;
  }
}

/** Teaches the server the body encodings QuickBlox clients send. */
export async function registerBodyParsers(app: FastifyInstance): Promise<void> {
  app.removeContentTypeParser(['application/json', 'text/plain']);

  // JSON; an empty body (bodyless DELETE with a JSON content type) is {}.
  const defaultJson = app.getDefaultJsonParser('error', 'ignore');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string;
    if (text.trim() === '') return done(null, {});
    defaultJson(request, text, (error, value) => {
      if (error) return done(baseError(400, 'Malformed JSON body'), undefined);
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        return done(baseError(400, 'The JSON body must be an object'), undefined);
      }
      done(null, value);
    });
  });

  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    done(null, parseParams(body as string));
  });

  await app.register(multipart, { limits: { fieldSize: 1024 * 1024, fields: 1000, parts: 1100 } });

  // Multipart bodies on ordinary routes are collected into the same shape as a form.
  // A callback hook, not an async one: it runs on every request, and most have no multipart body.
  app.addHook('preValidation', (request, reply, done) => {
    if (!request.isMultipart()) {
      // No body at all carries no parameters, the same as an empty form.
      request.body ??= {};
      done();
      return;
    }
    if (request.routeOptions.config.multipartStream) {
      done();
      return;
    }
    collectMultipartFields(request).then(
      (body) => {
        request.body = body;
        done();
      },
      (error: Error) => {
        // The rest of the body was never read; closing is cheaper than draining it, and a
        // connection left half-read would stay busy until it times out.
        reply.header('connection', 'close');
        done(error);
      },
    );
  });
}

/** Multipart parts as form parameters. Fastify's body limit never sees multipart bodies, so it is applied here. */
async function collectMultipartFields(request: FastifyRequest): Promise<Record<string, unknown>> {
  const limit = request.routeOptions.bodyLimit;
  const tooLarge = () => baseError(413, 'Request body is too large');
  if (Number(request.headers['content-length']) > limit) throw tooLarge();
  let size = 0;
  const pairs: string[] = [];
  try {
    for await (const part of request.parts()) {
      if (part.type === 'file') {
        // Files are only for routes that stream them; count and discard.
        for await (const chunk of part.file) {
          size += (chunk as Buffer).length;
          if (size > limit) throw tooLarge();
        }
        continue;
      }
      const value = String(part.value);
      size += Buffer.byteLength(part.fieldname) + Buffer.byteLength(value);
      if (size > limit) throw tooLarge();
      pairs.push(`${encodeURIComponent(part.fieldname)}=${encodeURIComponent(value)}`);
    }
  } catch (error) {
    if (error instanceof ApiError) throw error;
    throw baseError(400, `Malformed multipart body: ${(error as Error).message}`);
  }
  return parseParams(pairs.join('&'));
}

/**
 * The signed message of POST /session.json: every parameter but `signature`,
 * one level flattened to `key=value` / `key[sub]=value`, unencoded, sorted by
 * code unit, joined with `&`. Returns null when the parameters are nested
 * deeper than any client signs.
 */
export function signatureMessage(params: Record<string, unknown>): string | null {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(params)) {
    if (key === 'signature' || value === undefined) continue;
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      for (const [sub, subValue] of Object.entries(value)) {
        if (!isScalar(subValue)) return null;
        parts.push(`${key}[${sub}]=${scalarText(subValue)}`);
      }
    } else if (Array.isArray(value)) {
      if (!value.every(isScalar)) return null;
      parts.push(`${key}[]=${value.map(scalarText).join(',')}`);
    } else if (isScalar(value)) {
      parts.push(`${key}=${scalarText(value)}`);
    } else {
      return null;
    }
  }
  parts.sort();
  return parts.join('&');
}

function isScalar(value: unknown): value is string | number | boolean | null {
  return value === null || ['string', 'number', 'boolean'].includes(typeof value);
}

function scalarText(value: string | number | boolean | null): string {
  return value === null ? '' : String(value);
}
