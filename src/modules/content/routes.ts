import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type AuthContext, authOf } from '../../core/auth.js';
import { errors } from '../../core/errors.js';
import { NullableInt, NullableText } from '../../core/schemas.js';
import { formatBlob } from './format.js';
import type { ContentService, Download } from './service.js';

const BlobSchema = Type.Object(
  {
    id: Type.Integer(),
    uid: Type.String(),
    name: Type.String(),
    content_type: Type.String(),
    public: Type.Boolean(),
    size: NullableInt,
    blob_status: NullableText,
    tag_list: NullableText,
    created_at: Type.String(),
    updated_at: Type.String(),
    set_completed_at: NullableText,
    last_read_access_ts: NullableText,
    blob_object_access: Type.Optional(
      Type.Object({
        id: Type.Integer(),
        blob_id: Type.Integer(),
        expires: Type.String(),
        object_access_type: Type.String(),
        params: Type.String(),
      }),
    ),
  },
  { additionalProperties: false },
);
const BlobReply = Type.Object({ blob: BlobSchema });
const BlobPageReply = Type.Object({
  current_page: Type.Integer(),
  per_page: Type.Integer(),
  total_entries: Type.Integer(),
  items: Type.Array(Type.Object({ blob: BlobSchema })),
});
const IdParams = Type.Object({ id: Type.String({ pattern: '^[0-9]{1,15}$' }) });
const RefParams = Type.Object({ ref: Type.String({ maxLength: 64 }) });
const UidParams = Type.Object({ uid: Type.String({ maxLength: 64 }) });
const BlobBody = Type.Object({ blob: Type.Optional(Type.Unknown()) }, { additionalProperties: true });
const Query = Type.Object({}, { additionalProperties: true });

type Body = { blob?: unknown; size?: unknown };
type QueryParams = Record<string, unknown>;

/** The origin the client used, for upload URLs that point back at this server. */
function originOf(request: FastifyRequest, fallback: string): string {
  const host = request.host;
  return /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/.test(host) ? `${request.protocol}://${host}` : fallback;
}

export function contentRoutes(app: FastifyInstance, content: ContentService, apiEndpoint: string): void {
  app.post<{ Body: Body }>(
    '/blobs.json',
    { schema: { summary: 'Create a blob and its upload form', tags: ['content'], body: BlobBody, response: { 201: BlobReply } } },
    async (request, reply) => {
      const blob = await content.create(authOf(request), request.body?.blob, originOf(request, apiEndpoint));
      return reply.code(201).send({ blob });
    },
  );

  app.get<{ Querystring: QueryParams }>(
    '/blobs.json',
    {
      config: { access: 'user' },
      schema: { summary: "List the caller's blobs", tags: ['content'], querystring: Query, response: { 200: BlobPageReply } },
    },
    async (request) => content.list(authOf(request), request.query),
  );

  app.put<{ Params: { id: string }; Body: Body }>(
    '/blobs/:id/complete.json',
    { schema: { summary: 'Declare a blob uploaded', tags: ['content'], params: IdParams, body: BlobBody } },
    async (request, reply) => {
      // The SDK sends size, the docs blob[size]; the store's own size is what counts.
      await content.complete(authOf(request), Number(request.params.id));
      return reply.code(200).send();
    },
  );

  app.put<{ Params: { id: string }; Body: Body }>(
    '/blobs/:id.json',
    { schema: { summary: 'Update a blob', tags: ['content'], params: IdParams, body: BlobBody, response: { 200: BlobReply } } },
    async (request) => ({
      blob: await content.update(authOf(request), Number(request.params.id), request.body?.blob, originOf(request, apiEndpoint)),
    }),
  );

  app.delete<{ Params: { id: string } }>(
    '/blobs/:id.json',
    { schema: { summary: 'Delete a blob and its bytes', tags: ['content'], params: IdParams } },
    async (request, reply) => {
      await content.delete(authOf(request), Number(request.params.id));
      return reply.code(200).send();
    },
  );

  // One path for ids and uids (the router cannot tell them apart): digits are an id.
  app.get<{ Params: { ref: string }; Querystring: QueryParams }>(
    '/blobs/:ref.json',
    {
      config: { access: 'public' },
      schema: { summary: 'A blob by id, or its file by uid', tags: ['content'], params: RefParams },
    },
    async (request, reply) => {
      const { ref } = request.params;
      if (/^\d{1,15}$/.test(ref)) {
        const id = Number(ref);
        // The SDK's content.update sends GET /blobs/{id}.json?blob[name]=... (it forgets the method).
        if (request.query.blob !== undefined) {
          const auth = await app.authenticate(request, reply, 'user');
          return { blob: await content.update(auth, id, request.query.blob, originOf(request, apiEndpoint)) };
        }
        return { blob: await content.get(await app.authenticate(request, reply, 'session'), id) };
      }
      const download = await content.download(ref, callerOf(app, request, reply));
      // The JS SDK's getFile parses the answer as JSON: to it the file's record is what works.
      if (/^JS\b/.test(String(request.headers['qb-sdk'] ?? ''))) return { blob: formatBlob(download.row) };
      return sendFile(request, reply, content, download);
    },
  );

  app.get<{ Params: { uid: string }; Querystring: QueryParams }>(
    '/blobs/:uid',
    { config: { access: 'public' }, schema: { summary: 'Download a file by uid', tags: ['content'], params: UidParams } },
    async (request, reply) => {
      const download = await content.download(request.params.uid, callerOf(app, request, reply));
      return sendFile(request, reply, content, download);
    },
  );
}

/** The caller, when credentials came (QB-Token, ?token= as privateUrl sends it, or an API key); null when none did. */
function callerOf(app: FastifyInstance, request: FastifyRequest<{ Querystring: QueryParams }>, reply: FastifyReply) {
  return async (): Promise<AuthContext | null> => {
    const token = typeof request.query.token === 'string' ? request.query.token : undefined;
    if (!token && !request.headers['qb-token'] && !request.headers.authorization) return null;
    return app.authenticate(request, reply, 'session', token);
  };
}

/** Redirects to the store when it serves files itself; otherwise streams, with validators and byte ranges. */
async function sendFile(request: FastifyRequest, reply: FastifyReply, content: ContentService, download: Download) {
  const url = await content.downloadUrl(download);
  if (url) return reply.code(302).header('location', url).header('cache-control', 'private, no-store').send();

  const stat = await content.blobStore.stat(download.key);
  if (!stat) throw errors.notFound();
  const { row } = download;
  reply
    .header('etag', stat.etag)
    .header('accept-ranges', 'bytes')
    .header('cache-control', row.public === 1 ? 'public, max-age=3600' : 'private, max-age=3600')
    .header('content-disposition', `inline; filename*=UTF-8''${encodeURIComponent(row.name)}`)
    .type(row.content_type);
  // Bytes change only when an upload completes, so its time (whole seconds, as HTTP dates have) is the last change.
  const modifiedSeconds = row.set_completed_at === null ? null : Math.floor(row.set_completed_at / 1000);
  if (modifiedSeconds !== null) reply.header('last-modified', new Date(modifiedSeconds * 1000).toUTCString());
  const ifModifiedSince = request.headers['if-modified-since'];
  if (notModified(request.headers['if-none-match'], ifModifiedSince, stat.etag, modifiedSeconds, download.now)) {
    return reply.code(304).send();
  }

  let range: { start: number; end: number } | undefined;
  const rangeHeader = request.headers.range;
  const ifRange = request.headers['if-range'];
  if (typeof rangeHeader === 'string' && (ifRange === undefined || ifRange === stat.etag)) {
    const parsed = parseRange(rangeHeader, stat.size);
    if (parsed === 'unsatisfiable') {
      reply.header('content-range', `bytes */${stat.size}`).type('application/json; charset=utf-8');
      return reply.code(416).send({ errors: { base: ['Range Not Satisfiable'] } });
    }
    range = parsed ?? undefined;
  }
  const stream = await content.openRead(download, range);
  if (!stream) throw errors.notFound();
  if (range) {
    reply.code(206).header('content-range', `bytes ${range.start}-${range.end}/${stat.size}`);
    reply.header('content-length', range.end - range.start + 1);
  } else {
    reply.header('content-length', stat.size);
  }
  return reply.send(stream);
}

/**
 * RFC 9110 13.2.2: If-None-Match when sent, otherwise If-Modified-Since. A date that does not
 * parse, or that lies ahead of the server's clock (RFC 2616 14.25), is ignored: a made-up future
 * date would otherwise hide a version completed before it.
 */
function notModified(
  ifNoneMatch: string | undefined,
  ifModifiedSince: string | undefined,
  etag: string,
  modifiedSeconds: number | null,
  now: number,
): boolean {
  if (ifNoneMatch !== undefined) return matches(ifNoneMatch, etag);
  if (ifModifiedSince === undefined || modifiedSeconds === null) return false;
  const since = Date.parse(ifModifiedSince);
  return Number.isFinite(since) && since <= now && modifiedSeconds * 1000 <= since;
}

function matches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((tag) => {
    const t = tag.trim().replace(/^W\//, '');
    return t === '*' || t === etag;
  });
}

/** One `bytes=` range (a list of several is answered whole, as RFC 9110 allows); null when there is none to honour. */
function parseRange(header: string, size: number): { start: number; end: number } | 'unsatisfiable' | null {
  const match = /^bytes=(\d{0,15})-(\d{0,15})$/.exec(header.trim());
  if (!match) return null;
  const [, first, last] = match as unknown as [string, string, string];
  if (first === '' && last === '') return null;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (last !== '' && Number(last) < start) return null;
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}
