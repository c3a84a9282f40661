import type { FastifyInstance, FastifyRequest } from 'fastify';
import { authOf } from '../../core/auth.js';
import { errors } from '../../core/errors.js';
import { readBookQuery } from './query.js';
import { BookQuery, ContactsReply, RegisteredUsersReply, UploadBody, UploadReply } from './schemas.js';
import type { AddressBookService } from './service.js';
import { readFlag, readUdid } from './validation.js';

type QueryParams = Record<string, unknown>;

/** The caller's application and user: a book belongs to a user, so an application session or a bare API key has none. */
function owner(request: FastifyRequest): { applicationId: number; userId: number } {
  const auth = authOf(request);
  if (auth.userId === null) throw errors.needUser();
  return { applicationId: auth.applicationId, userId: auth.userId };
}

export function addressBookRoutes(app: FastifyInstance, addressBook: AddressBookService): void {
  app.post<{ Body: unknown }>(
    '/address_book.json',
    {
      config: { access: 'user' },
      schema: { summary: 'Upload address book', tags: ['address book'], body: UploadBody, response: { 200: UploadReply } },
    },
    async (request) => addressBook.upload(owner(request).userId, request.body),
  );

  app.get<{ Querystring: QueryParams }>(
    '/address_book.json',
    {
      config: { access: 'user' },
      schema: {
        summary: 'Address book contacts',
        tags: ['address book'],
        querystring: BookQuery,
        response: { 200: ContactsReply },
      },
    },
    async (request) => {
      const query = readBookQuery(request.url, request.query);
      return addressBook.contacts(owner(request).userId, readUdid(query.udid));
    },
  );

  app.get<{ Querystring: QueryParams }>(
    '/address_book/registered_users.json',
    {
      config: { access: 'user' },
      schema: {
        summary: 'Registered users among the contacts',
        tags: ['address book'],
        querystring: BookQuery,
        response: { 200: RegisteredUsersReply },
      },
    },
    async (request) => {
      const query = readBookQuery(request.url, request.query);
      const { applicationId, userId } = owner(request);
      return addressBook.registeredUsers(applicationId, userId, readUdid(query.udid), readFlag(query.compact, 'compact'));
    },
  );
}
