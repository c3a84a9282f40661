import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../../config.js';
import { baseError } from '../../core/errors.js';
import type { AppsService } from './service.js';

const EndpointsSchema = Type.Object({
  api_endpoint: Type.String(),
  chat_endpoint: Type.String(),
  turnserver_endpoint: Type.String(),
});

export function appsRoutes(app: FastifyInstance, apps: AppsService, endpoints: Config['endpoints']): void {
  app.get(
    '/account_settings.json',
    {
      config: { access: 'public' },
      schema: {
        summary: 'Endpoints for the account named by the QB-Account-Key header',
        tags: ['apps'],
        headers: Type.Object({ 'qb-account-key': Type.Optional(Type.String()) }),
        response: { 200: EndpointsSchema },
      },
    },
    async (request) => {
      const key = request.headers['qb-account-key'];
      if (typeof key !== 'string' || key === '') throw baseError(401, 'QB-Account-Key header is required');
      const account = await apps.accountByKey(key);
      if (!account) throw baseError(401, 'Unknown account key');
      return {
        api_endpoint: endpoints.api,
        chat_endpoint: endpoints.chat,
        turnserver_endpoint: endpoints.turnserver,
      };
    },
  );
}
