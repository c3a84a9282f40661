/**
 * QuickBlox error shapes. Every error a client sees is built here and
 * rendered by the one error handler in server.ts.
 *
 *   {"errors":{"base":["Required session does not exist"]}}   base message
 *   {"errors":{"login":["has already been taken"]}}           field messages
 *   {"errors":["Not Found"]}                                  bare list
 */
export type ErrorBody = { errors: Record<string, string[]> | string[] };

export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly body: ErrorBody,
  ) {
    // An answer, not a fault: its stack is never shown or logged, and capturing
    // one was the largest single cost of answering a bad token.
    const message = JSON.stringify(body.errors);
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = stackTraceLimit;
  }
}

export function baseError(statusCode: number, message: string): ApiError {
  return new ApiError(statusCode, { errors: { base: [message] } });
}

export function fieldErrors(statusCode: number, fields: Record<string, string[]>): ApiError {
  return new ApiError(statusCode, { errors: fields });
}

export function listError(statusCode: number, message: string): ApiError {
  return new ApiError(statusCode, { errors: [message] });
}

export const errors = {
  /** Unknown, expired or missing token. The SDK's sessionExpired handler keys on this text. */
  noSession: () => baseError(401, 'Required session does not exist'),
  unauthorized: () => baseError(401, 'Unauthorized'),
  /** An application session tried to write. */
  needUser: () => baseError(403, 'Forbidden. Need user.'),
  forbidden: (message = 'Forbidden') => baseError(403, message),
  notFound: () => listError(404, 'Not Found'),
  validation: (field: string, message: string) => fieldErrors(422, { [field]: [message] }),
  unprocessable: (message: string) => baseError(422, message),
};
