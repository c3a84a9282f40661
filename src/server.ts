import { randomBytes } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import cors from '@fastify/cors';
import swagger from '@fastify/swagger';
import Fastify, {
  type ConnectionError,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import { type BlobStore, createBlobStore, LocalBlobStore } from './adapters/blob-store/index.js';
import { localUploadRoute } from './adapters/blob-store/upload-route.js';
import { createMailer, type Mailer } from './adapters/mailer/index.js';
import type { Config } from './config.js';
import { callerOf, registerAuth } from './core/auth.js';
import { type Clock, systemClock } from './core/clock.js';
import { ApiError, baseError, fieldErrors } from './core/errors.js';
import { parseParams, registerBodyParsers } from './core/params.js';
import { addressBookRoutes } from './modules/addressbook/routes.js';
import { AddressBookService } from './modules/addressbook/service.js';
import { AddressBookStore } from './modules/addressbook/store.js';
import { appsRoutes } from './modules/apps/routes.js';
import { AppsService } from './modules/apps/service.js';
import { AppsStore } from './modules/apps/store.js';
import { DialogsService } from './modules/chat/dialogs.js';
import { ChatEvents } from './modules/chat/events.js';
import { MessagesService } from './modules/chat/messages.js';
import { chatRoutes } from './modules/chat/routes.js';
import { ChatStore } from './modules/chat/store.js';
import { contentRoutes } from './modules/content/routes.js';
import { ContentService } from './modules/content/service.js';
import { ContentStore } from './modules/content/store.js';
import { ClassesService } from './modules/data/classes.js';
import { ClassesStore } from './modules/data/classes-store.js';
import { DialogDataSchema } from './modules/data/dialog-data.js';
import { RecordsService } from './modules/data/records.js';
import { RecordsStore } from './modules/data/records-store.js';
import { dataRoutes } from './modules/data/routes.js';
import { healthRoutes } from './modules/health/routes.js';
import { createPush, PUSH_TICK_MS, type Push } from './modules/push/index.js';
import { pushRoutes } from './modules/push/routes.js';
import { SignInProviders } from './modules/sessions/providers/index.js';
import { sessionsRoutes } from './modules/sessions/routes.js';
import { FLUSH_INTERVAL_MS, SessionsService } from './modules/sessions/service.js';
import { SessionsStore } from './modules/sessions/store.js';
import { EmailConfirmation } from './modules/users/email-confirmation.js';
import { EmailLinks } from './modules/users/email-links.js';
import { emailRoutes } from './modules/users/email-routes.js';
import { EmailTokensStore } from './modules/users/email-tokens-store.js';
import { PasswordReset } from './modules/users/password-reset.js';
import { usersRoutes } from './modules/users/routes.js';
import { UsersService } from './modules/users/service.js';
import { UsersStore } from './modules/users/store.js';
import { UserTransfer } from './modules/users/transfer.js';
import { isReachable, openStorage, type Storage } from './storage/db.js';
import { migrateToLatest } from './storage/migrate.js';

export interface Services {
  storage: Storage;
  apps: AppsService;
  users: UsersService;
  userTransfer: UserTransfer;
  sessions: SessionsService;
  addressBook: AddressBookService;
  blobStore: BlobStore;
  content: ContentService;
  classes: ClassesService;
  records: RecordsService;
  push: Push;
  dialogs: DialogsService;
  messages: MessagesService;
  chatEvents: ChatEvents;
  mailer: Mailer;
  passwordReset: PasswordReset;
  emailConfirmation: EmailConfirmation;
}

/** The part of a pino logger the services write to. */
export interface ServiceLog {
  warn(object: object, message: string): void;
  error(object: object, message: string): void;
}

/** Without a server (the CLI), the services' rare log lines go to stderr. */
const stderrLog: ServiceLog = {
  warn: (object, message) => console.error(message, object),
  error: (object, message) => console.error(message, object),
};

declare module 'fastify' {
  interface FastifyInstance {
    services: Services;
  }
}

export interface ServerOptions {
  clock?: Clock;
  tls?: { key: string; cert: string } | null;
}

const CLEANUP_INTERVAL_MS = 60_000;
/** Expired uploads and orphaned blob bytes are collected this often. */
const BLOB_GC_INTERVAL_MS = 15 * 60_000;

/** Opens storage, applies migrations and wires the services; the CLI uses this without HTTP. */
export async function createServices(config: Config, clock: Clock = systemClock, log: ServiceLog = stderrLog): Promise<Services> {
  const storage = openStorage(config.database);
  try {
    await migrateToLatest(storage.db, storage.dialect);
  } catch (error) {
    await storage.close();
    throw error;
  }
  const apps = new AppsService(new AppsStore(storage.db, storage.dialect), clock);
  const usersStore = new UsersStore(storage.db, storage.dialect);
  const users = new UsersService(usersStore, clock);
  const userTransfer = new UserTransfer(usersStore, clock);
  const providers = new SignInProviders(config.providers, clock);
  const sessions = new SessionsService(new SessionsStore(storage.db), apps, users, clock, config.sessionTtlSeconds, providers);
  users.onDeleted((applicationId, userId) => sessions.forgetUser(applicationId, userId));
  const mailer = createMailer(config, log);
  const emailLinks = new EmailLinks(new EmailTokensStore(storage.db), apps, mailer, clock, config.endpoints.api);
  const passwordReset = new PasswordReset(usersStore, emailLinks, log);
  passwordReset.onPasswordReset((applicationId, userId) => sessions.endUserSessions(applicationId, userId));
  const emailConfirmation = new EmailConfirmation(users, usersStore, apps, emailLinks, log);
  users.onLogin(emailConfirmation.checkLogin);
  const addressBook = new AddressBookService(new AddressBookStore(storage.db, storage.dialect), users, clock);
  const blobStore = createBlobStore(config, clock);
  const content = new ContentService(
    new ContentStore(storage.db, storage.dialect),
    blobStore,
    apps,
    users,
    clock,
    config.blobUploadTtlSeconds,
    log,
  );
  const push = createPush(storage, users, mailer, config, clock, log);
  const classes = new ClassesService(new ClassesStore(storage.db, storage.dialect), clock);
  const records = new RecordsService(classes, new RecordsStore(storage.db, storage.dialect), users, blobStore, clock, log);
  const chatStore = new ChatStore(storage.db, storage.dialect);
  const dialogs = new DialogsService(chatStore, users, new DialogDataSchema(classes), clock, config.endpoints.chat);
  const chatEvents = new ChatEvents();
  const messages = new MessagesService(chatStore, dialogs, chatEvents, clock);
  return {
    storage,
    apps,
    classes,
    records,
    users,
    userTransfer,
    sessions,
    addressBook,
    mailer,
    passwordReset,
    emailConfirmation,
    blobStore,
    content,
    push,
    dialogs,
    messages,
    chatEvents,
  };
}

/** The Fastify instance with every route; the caller decides when to listen(). */
export async function buildServer(config: Config, options: ServerOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    ...(options.tls ? { https: { key: options.tls.key, cert: options.tls.cert } } : {}),
    logger: {
      level: config.logLevel,
      redact: ['req.headers["qb-token"]', 'req.headers.authorization', 'req.headers["qb-account-key"]'],
    },
    // One log line per request, written by the onResponse hook below.
    logController: new LogController({ disableRequestLogging: true }),
    requestIdHeader: 'x-request-id',
    genReqId: nextRequestId,
    bodyLimit: config.bodyLimit,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 500, querystringParser: parseParams },
    ajv: { customOptions: { coerceTypes: 'array', removeAdditional: false, allErrors: false } },
    frameworkErrors,
    clientErrorHandler,
  }) as unknown as FastifyInstance;
  // After the logger exists: the mailer without SMTP writes mails to it.
  const services = await createServices(config, options.clock, app.log);
  app.decorate('services', services);
  if (services.mailer.kind === 'log') {
    app.log.warn('SMTP_URL is not set: mails with links (reset, confirmation) are written to this log, not sent');
  }

  await app.register(cors, {
    origin: '*',
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS'],
    allowedHeaders: [
      'QB-Token',
      'QB-SDK',
      'QB-OS',
      'QB-Account-Key',
      'Content-Type',
      'Authorization',
      'On-Behalf-Of',
      'X-Request-Id',
    ],
    exposedHeaders: ['QB-Token-ExpirationDate'],
    maxAge: 86400,
  });
  await app.register(swagger, {
    openapi: {
      info: { title: 'Switchboard (QuickBlox-compatible API)', version: '0.1.0' },
      components: {
        securitySchemes: {
          qbToken: { type: 'apiKey', in: 'header', name: 'QB-Token' },
          apiKey: { type: 'apiKey', in: 'header', name: 'Authorization' },
        },
      },
    },
  });
  await registerBodyParsers(app);
  registerAuth(app, {
    byToken: async (token) => {
      const session = await services.sessions.resolve(token);
      if (!session) return null;
      const auth = {
        applicationId: session.row.application_id,
        userId: session.row.user_id,
        via: 'token' as const,
        token,
        session,
      };
      if (auth.userId !== null) services.users.touch(auth.userId);
      return { auth, expiresAt: services.sessions.expiresAt(session) };
    },
    byApiKey: async (key, onBehalfOf) => {
      const applicationId = await services.apps.resolveApiKey(key);
      if (applicationId === null) return null;
      let userId: number | null = null;
      if (onBehalfOf !== undefined) {
        userId = /^\d{1,15}$/.test(onBehalfOf) ? Number(onBehalfOf) : -1;
        if (!(await services.users.exists(applicationId, userId)))
          throw baseError(422, 'On-Behalf-Of names no user of this application');
      }
      return { applicationId, userId, via: 'apikey' };
    },
  });

  // Only where info lines are written: below that level the hook would be pure per-request cost.
  if (['info', 'debug', 'trace'].includes(config.logLevel)) {
    app.addHook('onResponse', async (request, reply) => {
      request.log.info(
        {
          ...callerOf(request),
          method: request.method,
          url: request.url,
          status: reply.statusCode,
          ms: Math.round(reply.elapsedTime),
        },
        'request',
      );
    });
  }
  app.setErrorHandler(errorHandler);
  // Plugins that answer errors themselves write plain text (CORS: "Invalid Preflight Request");
  // clients need QuickBlox JSON. Pages served on purpose (HTML) are left alone.
  // A callback hook, not an async one: it runs on every answer, and most pass through.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (reply.statusCode < 400 || !/^(text\/plain|$)/.test(String(reply.getHeader('content-type') ?? ''))) {
      return done(null, payload);
    }
    if (payload !== undefined && payload !== null && typeof payload !== 'string') return done(null, payload);
    const message = payload || STATUS_CODES[reply.statusCode] || 'Error';
    reply.header('content-type', 'application/json; charset=utf-8');
    done(null, JSON.stringify(baseError(reply.statusCode, message).body));
  });
  app.setNotFoundHandler((_request, reply) => {
    reply.code(404).send({ errors: ['Not Found'] });
  });

  healthRoutes(app, () => isReachable(services.storage));
  appsRoutes(app, services.apps, config.endpoints);
  sessionsRoutes(app, services.sessions);
  usersRoutes(app, services.users, services.apps, services.emailConfirmation);
  emailRoutes(app, services.passwordReset, services.emailConfirmation);
  addressBookRoutes(app, services.addressBook);
  contentRoutes(app, services.content, config.endpoints.api);
  dataRoutes(app, services.records, services.classes);
  pushRoutes(app, services.push.subscriptions, services.push.events, services.push.credentials);
  chatRoutes(app, services.dialogs, services.messages);
  if (services.blobStore instanceof LocalBlobStore) localUploadRoute(app, services.blobStore);
  app.get('/openapi.json', { config: { access: 'public' }, schema: { hide: true } }, async () => app.swagger());

  // Graceful shutdown: Fastify closes the connection of a request that arrives while closing, but a
  // request already in flight would keep its keep-alive connection open after its answer, holding the
  // process until keepAliveTimeout (72 s). Its answer says Connection: close instead.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', (request, reply, payload, done) => {
    if (closing && request.raw.httpVersionMajor < 2) reply.header('connection', 'close');
    done(null, payload);
  });

  // Batched writes (session last use, user last_request_at) and cleanup of idle sessions.
  const flushBatches = () => Promise.all([services.sessions.flush(), services.users.flush()]);
  const timers: NodeJS.Timeout[] = [];
  app.addHook('onReady', async () => {
    const every = (ms: number, label: string, task: () => Promise<unknown>) =>
      timers.push(setInterval(() => task().catch((error) => app.log.error({ err: error }, `${label} failed`)), ms).unref());
    every(FLUSH_INTERVAL_MS, 'batched writes', flushBatches);
    every(CLEANUP_INTERVAL_MS, 'session cleanup', () => services.sessions.cleanup());
    every(BLOB_GC_INTERVAL_MS, 'blob gc', () => services.content.collectGarbage());
    every(PUSH_TICK_MS, 'push scheduler', () => services.push.scheduler.tick());
  });
  app.addHook('onClose', async () => {
    for (const timer of timers) clearInterval(timer);
    await flushBatches().catch((error) => app.log.error({ err: error }, 'final batched writes failed'));
    await services.push.close();
    await services.mailer.close();
    await services.blobStore.close();
    await services.storage.close();
  });
  return app;
}

// Request ids only need to be unique across nodes and restarts: a random prefix per process and a
// counter cost less than a UUID per request (measured on GET /session.json).
const requestIdPrefix = randomBytes(6).toString('hex');
let requestCounter = 0;
function nextRequestId(): string {
  requestCounter++;
  return `${requestIdPrefix}-${requestCounter.toString(36)}`;
}

/** Every error leaves as a QuickBlox error body; only real faults are 500s. */
function errorHandler(this: FastifyInstance, error: FastifyError | ApiError, request: FastifyRequest, reply: FastifyReply) {
  if (error instanceof ApiError) return reply.code(error.statusCode).send(error.body);
  const fastifyError = error as FastifyError;
  if (fastifyError.validation) {
    const fields: Record<string, string[]> = {};
    for (const issue of fastifyError.validation) {
      const missing = (issue.params as { missingProperty?: string }).missingProperty;
      const path = issue.instancePath.replace(/^\//, '').replaceAll('/', '.');
      const field = missing ? [path, missing].filter(Boolean).join('.') : path || fastifyError.validationContext || 'base';
      const message = missing ? 'is required' : `is invalid (${issue.message ?? 'bad value'})`;
      fields[field] = [...(fields[field] ?? []), message];
    }
    return reply.code(422).send(fieldErrors(422, fields).body);
  }
  const status = fastifyError.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    return reply.code(status).send(baseError(status, clientMessage(fastifyError)).body);
  }
  request.log.error({ ...callerOf(request), err: error }, 'unhandled error');
  return reply.code(500).send(baseError(500, 'Internal server error').body);
}

/** Malformed URLs and over-long path parameters are refused before any route or hook runs. */
function frameworkErrors(error: FastifyError, _request: FastifyRequest, reply: FastifyReply) {
  const status = error.code === 'FST_ERR_BAD_URL' ? 400 : error.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 414 : 500;
  const message = status === 400 ? 'Malformed URL' : status === 414 ? 'URL is too long' : 'Internal server error';
  reply.code(status).send(baseError(status, message).body);
}

/** Requests Node's HTTP parser refuses (bad framing, headers too large) get a QuickBlox body too. */
function clientErrorHandler(this: FastifyInstance, error: ConnectionError, socket: Socket) {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const message =
    status === 431 ? 'Request headers are too large' : status === 408 ? 'Request timeout' : 'Malformed HTTP request';
  const body = JSON.stringify(baseError(status, message).body);
  this.log.debug({ err: error }, 'client error');
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}

function clientMessage(error: FastifyError): string {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return 'Request body is too large';
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return 'Unsupported content type';
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return 'Content-Length does not match the body';
    default:
      return error.message;
  }
}
