import type { FastifyInstance, FastifyReply } from 'fastify';
import type { LocalBlobStore } from './local.js';
import { UPLOAD_PATH } from './local.js';
import { UploadRefused } from './types.js';

const xmlEscape = (text: string) =>
  text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] as string);

/** S3 answers its POST endpoint in XML, success and failure alike; clients written for S3 read that. */
function s3Error(reply: FastifyReply, refused: UploadRefused) {
  return reply
    .code(refused.status)
    .type('application/xml')
    .send(
      `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${refused.code}</Code><Message>${xmlEscape(refused.message)}</Message></Error>`,
    );
}

/**
 * The local store's stand-in for S3's browser-upload endpoint: the form's
 * fields, then the file (fields after it are ignored, as S3 does: the SDK
 * appends `name`). Answers success_action_status: 201 with S3's PostResponse,
 * 200 empty, otherwise 204.
 */
export function localUploadRoute(app: FastifyInstance, store: LocalBlobStore): void {
  app.post(
    UPLOAD_PATH,
    { config: { access: 'public', multipartStream: true }, schema: { hide: true } },
    async (request, reply) => {
      if (!request.isMultipart()) {
        return s3Error(
          reply,
          new UploadRefused(412, 'PreconditionFailed', 'Bucket POST must be of the enclosure-type multipart/form-data'),
        );
      }
      const fields: Record<string, string> = {};
      let result: Awaited<ReturnType<LocalBlobStore['acceptUpload']>> | null = null;
      try {
        const parts = request.parts({
          limits: { fileSize: Number.MAX_SAFE_INTEGER, files: 1, fields: 100, fieldSize: 64 * 1024 },
        });
        for await (const part of parts) {
          if (part.type === 'field') {
            if (result === null) fields[part.fieldname.toLowerCase()] = String(part.value);
            continue;
          }
          if (part.fieldname !== 'file' || result !== null) {
            part.file.resume();
            continue;
          }
          result = await store.acceptUpload(fields, part.file);
        }
        if (result === null)
          throw new UploadRefused(400, 'InvalidArgument', 'POST requires exactly one file upload per request.');
      } catch (error) {
        // The rest of the body may be unread; closing is cheaper than draining it.
        reply.header('connection', 'close');
        if (error instanceof UploadRefused) return s3Error(reply, error);
        if (request.raw.destroyed || request.raw.aborted) throw error;
        return s3Error(
          reply,
          new UploadRefused(400, 'MalformedPOSTRequest', 'The body of your POST request is not well-formed multipart/form-data.'),
        );
      }
      const status = fields.success_action_status;
      reply.header('etag', result.stat.etag);
      if (status === '201') {
        const location = `${request.protocol}://${request.host}${UPLOAD_PATH}/${result.key}`;
        return reply
          .code(201)
          .type('application/xml')
          .send(
            `<?xml version="1.0" encoding="UTF-8"?>\n<PostResponse><Location>${xmlEscape(location)}</Location>` +
              `<Bucket>local</Bucket><Key>${xmlEscape(result.key)}</Key><ETag>${xmlEscape(result.stat.etag)}</ETag></PostResponse>`,
          );
      }
      return reply.code(status === '200' ? 200 : 204).send();
    },
  );
}
