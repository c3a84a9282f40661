import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { baseError } from '../../core/errors.js';

const Status = Type.Object({ status: Type.String() });

/** Liveness (the process answers) and readiness (it can reach its database). */
export function healthRoutes(app: FastifyInstance, ready: () => Promise<boolean>): void {
  const config = { access: 'public' as const };
  app.get('/health/live', { config, schema: { tags: ['health'], response: { 200: Status } } }, async () => ({ status: 'ok' }));
  app.get('/health/ready', { config, schema: { tags: ['health'], response: { 200: Status } } }, async () => {
    if (!(await ready())) throw baseError(503, 'Database unavailable');
    return { status: 'ok' };
  });
}
