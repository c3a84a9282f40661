// The framework's own cost, for `npm run bench:floor`: the Fastify that
// Switchboard runs, with its pino logger at Switchboard's bench level (warn),
// answering the shapes of three Switchboard calls with fixed data, no auth,
// no storage. Whatever Switchboard does on top costs more than this.
import Fastify from 'fastify';

const app = Fastify({ logger: { level: 'warn' } });

// Forms as the session call sends them: flat `key=value` pairs.
app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
  done(null, Object.fromEntries(new URLSearchParams(body)));
});

const at = '2026-12-04T00:00:00Z';
const session = (token) => ({
  session: {
    id: 1,
    _id: '6751a2b3c4d5e6f708192a3b',
    application_id: 1,
    user_id: 0,
    token,
    nonce: 1,
    ts: 1,
    created_at: at,
    updated_at: at,
  },
});
const sessionSchema = {
  type: 'object',
  properties: {
    session: {
      type: 'object',
      properties: {
        id: { type: 'integer' },
        _id: { type: 'string' },
        application_id: { type: 'integer' },
        user_id: { type: 'integer' },
        token: { type: 'string' },
        nonce: { type: 'integer' },
        ts: { type: 'integer' },
        created_at: { type: 'string' },
        updated_at: { type: 'string' },
      },
    },
  },
};
const expiry = '2026-12-04 02:00:00 UTC';

app.get('/session.json', { schema: { response: { 200: sessionSchema } } }, async (request, reply) => {
  reply.header('QB-Token-ExpirationDate', expiry);
  return session(String(request.headers['qb-token'] ?? ''));
});

app.post('/session.json', { schema: { response: { 201: sessionSchema } } }, async (request, reply) => {
  reply.header('QB-Token-ExpirationDate', expiry);
  reply.code(201);
  return session(String(request.body?.signature ?? ''));
});

app.post('/chat/Message.json', async (request, reply) => {
  reply.header('QB-Token-ExpirationDate', expiry);
  reply.code(201);
  return {
    _id: '6751a2b3c4d5e6f708192a3c',
    chat_dialog_id: String(request.body?.chat_dialog_id ?? ''),
    message: String(request.body?.message ?? ''),
    sender_id: 12,
    recipient_id: null,
    date_sent: 1764806400,
    attachments: [],
    read_ids: [12],
    delivered_ids: [12],
    read: 0,
    markable: 0,
    created_at: at,
    updated_at: at,
  };
});

await app.listen({ port: Number(process.env.PORT ?? 0), host: process.env.HOST ?? '127.0.0.1' });
const stop = () => app.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
