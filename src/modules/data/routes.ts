import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import qs from 'qs';
import { type AuthContext, authOf } from '../../core/auth.js';
import { ApiError, baseError, errors } from '../../core/errors.js';
import type { ClassesService } from './classes.js';
import { type FileDownload, MAX_FILE_BYTES, type RecordsService } from './records.js';

const AnyObject = Type.Object({}, { additionalProperties: true });
const ClassParams = Type.Object({ class: Type.String({ pattern: '^[A-Za-z][A-Za-z0-9_]{0,63}$' }) });
const IdsParams = Type.Object({
  class: Type.String({ pattern: '^[A-Za-z][A-Za-z0-9_]{0,63}$' }),
  ids: Type.String({ pattern: '^[0-9a-f]{24}(,[0-9a-f]{24}){0,99}$' }),
});
const IdParams = Type.Object({
  class: Type.String({ pattern: '^[A-Za-z][A-Za-z0-9_]{0,63}$' }),
  id: Type.String({ pattern: '^[0-9a-f]{24}$' }),
});
const NameParams = Type.Object({ name: Type.String({ pattern: '^[A-Za-z][A-Za-z0-9_]{0,63}$' }) });
const ClassJson = Type.Object(
  {
    name: Type.String(),
    fields: Type.Array(Type.Object({ name: Type.String(), type: Type.String(), indexed: Type.Boolean() })),
    permissions: AnyObject,
    created_at: Type.Integer(),
    updated_at: Type.Integer(),
  },
  { additionalProperties: false },
);
const ClassReply = Type.Object({ class: ClassJson });
const DeleteReply = Type.Object({
  SuccessfullyDeleted: Type.Object({ ids: Type.Array(Type.String()) }),
  NotFound: Type.Object({ ids: Type.Array(Type.String()) }),
  WrongPermissions: Type.Object({ ids: Type.Array(Type.String()) }),
});
const FileReply = Type.Object({
  _id: Type.String(),
  file_id: Type.String(),
  size: Type.Integer(),
  name: Type.String(),
  content_type: Type.String(),
});

type Params = { class: string };
type Body = Record<string, unknown>;

/** `field[2]=v` must keep its index: forms on these routes are read with sparse lists. */
const FORM_OPTIONS: qs.IParseOptions = {
  depth: 5,
  arrayLimit: 100,
  parameterLimit: 1000,
  allowPrototypes: false,
  allowSparse: true,
};

/** The account owner's credential over REST is a server API key without On-Behalf-Of. */
function owner(request: FastifyRequest): AuthContext {
  const auth = authOf(request);
  if (auth.via !== 'apikey' || auth.userId !== null) throw errors.forbidden('Classes are managed with a server API key');
  return auth;
}

export function dataRoutes(app: FastifyInstance, records: RecordsService, classes: ClassesService): void {
  app.register(async (scope) => {
    scope.removeContentTypeParser('application/x-www-form-urlencoded');
    scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
      done(null, qs.parse(body as string, FORM_OPTIONS));
    });
    // A failure that is not a refusal may come from a definition another process changed: read it afresh next time.
    scope.addHook('onError', async (request, _reply, error) => {
      if (!(error instanceof ApiError) && request.auth) classes.forget(request.auth.applicationId);
    });
    classRoutes(scope, classes, records);
    recordRoutes(scope, records);
  });
}

function classRoutes(app: FastifyInstance, classes: ClassesService, records: RecordsService): void {
  const tags = ['custom objects'];
  app.post<{ Body: Body }>(
    '/class.json',
    { schema: { summary: 'Create a class (API key)', tags, body: AnyObject, response: { 201: ClassReply } } },
    async (request, reply) => {
      const body = (request.body.class ?? request.body) as Body;
      return reply.code(201).send({ class: await classes.create(owner(request).applicationId, body) });
    },
  );
  app.get(
    '/class.json',
    {
      schema: {
        summary: 'List classes (API key)',
        tags,
        response: { 200: Type.Object({ items: Type.Array(Type.Object({ class: ClassJson })) }) },
      },
    },
    async (request) => ({ items: (await classes.list(owner(request).applicationId)).map((c) => ({ class: c })) }),
  );
  app.get<{ Params: { name: string } }>(
    '/class/:name.json',
    { schema: { summary: 'Show a class (API key)', tags, params: NameParams, response: { 200: ClassReply } } },
    async (request) => ({ class: await classes.show(owner(request).applicationId, request.params.name) }),
  );
  app.put<{ Params: { name: string }; Body: Body }>(
    '/class/:name.json',
    {
      schema: {
        summary: 'Change a class: add_fields, remove_fields, index, unindex, permissions (API key)',
        tags,
        params: NameParams,
        body: AnyObject,
        response: { 200: ClassReply },
      },
    },
    async (request) => {
      const body = (request.body.class ?? request.body) as Body;
      return { class: await records.updateClass(owner(request).applicationId, request.params.name, body) };
    },
  );
  app.delete<{ Params: { name: string } }>(
    '/class/:name.json',
    { schema: { summary: 'Delete a class and its records (API key)', tags, params: NameParams } },
    async (request, reply) => {
      await records.deleteClass(owner(request).applicationId, request.params.name);
      return reply.code(200).send();
    },
  );
}

function recordRoutes(app: FastifyInstance, records: RecordsService): void {
  const tags = ['custom objects'];
  app.post<{ Params: Params; Body: Body }>(
    '/data/:class.json',
    { schema: { summary: 'Create a record', tags, params: ClassParams, body: AnyObject, response: { 201: AnyObject } } },
    async (request, reply) => reply.code(201).send(await records.create(authOf(request), request.params.class, request.body)),
  );
  app.get<{ Params: Params; Querystring: Body }>(
    '/data/:class.json',
    {
      schema: {
        summary: 'Retrieve records (query language)',
        tags,
        params: ClassParams,
        querystring: AnyObject,
        response: { 200: AnyObject },
      },
    },
    async (request) => records.list(authOf(request), request.params.class, request.query),
  );
  app.post<{ Params: Params; Body: Body }>(
    '/data/:class/multi.json',
    { schema: { summary: 'Create records in bulk', tags, params: ClassParams, body: AnyObject, response: { 201: AnyObject } } },
    async (request, reply) =>
      reply.code(201).send(await records.createMany(authOf(request), request.params.class, request.body.record)),
  );
  app.put<{ Params: Params; Body: Body }>(
    '/data/:class/multi.json',
    { schema: { summary: 'Update records in bulk', tags, params: ClassParams, body: AnyObject, response: { 200: AnyObject } } },
    async (request) => records.updateMany(authOf(request), request.params.class, request.body.record),
  );
  app.put<{ Params: Params; Body: Body }>(
    '/data/:class/by_criteria.json',
    {
      schema: { summary: 'Update records by criteria', tags, params: ClassParams, body: AnyObject, response: { 200: AnyObject } },
    },
    async (request) => records.updateByCriteria(authOf(request), request.params.class, request.body),
  );
  app.delete<{ Params: Params; Body: Body }>(
    '/data/:class/by_criteria.json',
    {
      schema: {
        summary: 'Delete records by criteria (criteria in the query or a DELETE body)',
        tags,
        params: ClassParams,
        response: { 200: Type.Object({ total_deleted: Type.Integer() }) },
      },
    },
    async (request) => {
      const criteria = { ...(request.query as Body), ...(request.body ?? {}) };
      return records.deleteByCriteria(authOf(request), request.params.class, criteria);
    },
  );
  app.get<{ Params: { class: string; ids: string } }>(
    '/data/:class/:ids.json',
    { schema: { summary: 'Records by ids', tags, params: IdsParams, response: { 200: AnyObject } } },
    async (request) => records.getByIds(authOf(request), request.params.class, request.params.ids),
  );
  app.put<{ Params: { class: string; ids: string }; Body: Body }>(
    '/data/:class/:ids.json',
    {
      schema: {
        summary: 'Update a record (fields and update operators)',
        tags,
        params: IdsParams,
        body: AnyObject,
        response: { 200: AnyObject },
      },
    },
    async (request) => records.update(authOf(request), request.params.class, request.params.ids, request.body),
  );
  app.delete<{ Params: { class: string; ids: string } }>(
    '/data/:class/:ids.json',
    { schema: { summary: 'Delete a record, or several (id,id)', tags, params: IdsParams, response: { 200: DeleteReply } } },
    async (request, reply) => {
      const { ids } = request.params;
      if (!ids.includes(',')) {
        await records.deleteOne(authOf(request), request.params.class, ids);
        return reply.code(200).send();
      }
      return records.deleteIds(authOf(request), request.params.class, ids);
    },
  );

  app.post<{ Params: { class: string; id: string } }>(
    '/data/:class/:id/file.json',
    {
      config: { multipartStream: true },
      schema: {
        summary: 'Upload a file to a File field (multipart: field_name, file)',
        tags,
        params: IdParams,
        response: { 200: FileReply },
      },
    },
    async (request) => {
      if (!request.isMultipart()) throw errors.validation('file', 'send multipart/form-data with field_name and file');
      let fieldName: string | undefined;
      let result: Awaited<ReturnType<RecordsService['uploadFile']>> | null = null;
      try {
        const parts = request.parts({ limits: { fileSize: MAX_FILE_BYTES + 1, files: 1, fields: 10, fieldSize: 1024 } });
        for await (const part of parts) {
          if (part.type === 'field') {
            if (part.fieldname === 'field_name') fieldName = String(part.value);
            continue;
          }
          if (part.fieldname !== 'file' || result) {
            part.file.resume();
            continue;
          }
          // The SDK sends field_name before the file; a query parameter works too.
          fieldName ??=
            typeof (request.query as Body).field_name === 'string' ? String((request.query as Body).field_name) : undefined;
          result = await records.uploadFile(authOf(request), request.params.class, request.params.id, fieldName ?? '', {
            name: part.filename || 'file',
            contentType: part.mimetype || 'application/octet-stream',
            stream: part.file,
          });
        }
      } catch (error) {
        if (
          (error as { statusCode?: number }).statusCode === 413 ||
          (error as { code?: string }).code === 'FST_REQ_FILE_TOO_LARGE'
        ) {
          request.raw.unpipe();
          throw baseError(413, `The file is larger than ${MAX_FILE_BYTES} bytes`);
        }
        throw error;
      }
      if (!result) throw errors.validation('file', 'is required');
      return result;
    },
  );
  app.get<{ Params: { class: string; id: string }; Querystring: Body }>(
    '/data/:class/:id/file.json',
    {
      config: { access: 'public' },
      schema: { summary: 'Download a file (QB-Token header or ?token=)', tags, params: IdParams, querystring: AnyObject },
    },
    async (request, reply) => {
      const token = typeof request.query.token === 'string' ? request.query.token : undefined;
      const auth = await app.authenticate(request, reply, 'session', token);
      const file = await records.file(auth, request.params.class, request.params.id, String(request.query.field_name ?? ''));
      return sendFile(reply, records, file);
    },
  );
  app.delete<{ Params: { class: string; id: string }; Body: Body }>(
    '/data/:class/:id/file.json',
    { schema: { summary: 'Delete a file of a File field', tags, params: IdParams } },
    async (request, reply) => {
      const fieldName = request.body?.field_name ?? (request.query as Body).field_name;
      await records.deleteFile(authOf(request), request.params.class, request.params.id, String(fieldName ?? ''));
      return reply.code(200).send();
    },
  );
}

async function sendFile(reply: FastifyReply, records: RecordsService, file: FileDownload) {
  const url = await records.blobStore.downloadUrl(file.key, {
    expiresInSeconds: 600,
    contentType: file.contentType,
    fileName: file.name,
  });
  if (url) return reply.code(302).header('location', url).header('cache-control', 'private, no-store').send();
  const stream = await records.blobStore.openRead(file.key);
  if (!stream) throw errors.notFound();
  return reply
    .header('content-length', file.size)
    .header('cache-control', 'private, max-age=3600')
    .header('content-disposition', `inline; filename*=UTF-8''${encodeURIComponent(file.name)}`)
    .type(file.contentType)
    .send(stream);
}
