/**
 * Error kinds, and the one table that maps each kind to an HTTP status and a job Status.
 *
 * Errors cross threads as data ({kind, message}) and are rebuilt into these classes on the
 * other side, so a handler anywhere can `throw new NotFoundError(...)` and the API server
 * answers 404 without sniffing message strings (the 2014 daemon's FIXME in httpError).
 * Messages are dockerd's where a user sees them ("No such container: x").
 *
 * This module imports nothing of ours: src/protocol, the engine and every worker share it.
 */

/** Job exit status, as the 2014 engine's: a coarse, process-like code. */
export const Status = {
  OK: 0,
  ERR: 1,
  /** No handler for the job's name: the shell's "command not found". */
  NOT_FOUND: 127,
} as const;
export type StatusCode = (typeof Status)[keyof typeof Status];

/** The kinds an error can have on the wire. */
export type ErrorKind =
  | 'invalidParameter'
  | 'unauthorized'
  | 'forbidden'
  | 'notFound'
  | 'conflict'
  | 'notModified'
  | 'requestEntityTooLarge'
  | 'notImplemented'
  | 'unavailable'
  | 'cancelled'
  | 'deadline'
  | 'system'
  | 'jobNotFound';

/** kind → HTTP status → job Status. The only place either mapping is decided. */
export const ERROR_TABLE: Readonly<Record<ErrorKind, { http: number; status: StatusCode }>> = {
  invalidParameter: { http: 400, status: Status.ERR },
  unauthorized: { http: 401, status: Status.ERR },
  forbidden: { http: 403, status: Status.ERR },
  notFound: { http: 404, status: Status.ERR },
  conflict: { http: 409, status: Status.ERR },
  notModified: { http: 304, status: Status.ERR },
  requestEntityTooLarge: { http: 413, status: Status.ERR },
  notImplemented: { http: 501, status: Status.ERR },
  unavailable: { http: 503, status: Status.ERR },
  // The client is gone; the status only shows in logs (moby's 499).
  cancelled: { http: 499, status: Status.ERR },
  deadline: { http: 504, status: Status.ERR },
  system: { http: 500, status: Status.ERR },
  // A wiring bug, not a user error: no handler is registered for the job's name.
  jobNotFound: { http: 501, status: Status.NOT_FOUND },
};

/** BerthError is the base of every classified error. */
export class BerthError extends Error {
  readonly kind: ErrorKind;
  constructor(kind: ErrorKind, message: string) {
    super(message);
    this.kind = kind;
    this.name = kind;
  }
}

export class InvalidParameterError extends BerthError {
  constructor(message: string) { super('invalidParameter', message); }
}
export class UnauthorizedError extends BerthError {
  constructor(message: string) { super('unauthorized', message); }
}
export class ForbiddenError extends BerthError {
  constructor(message: string) { super('forbidden', message); }
}
export class NotFoundError extends BerthError {
  constructor(message: string) { super('notFound', message); }
}
export class ConflictError extends BerthError {
  constructor(message: string) { super('conflict', message); }
}
/** Not a failure: "already started/stopped". Modelled as an error so callers stop early. */
export class NotModifiedError extends BerthError {
  constructor(message: string) { super('notModified', message); }
}
export class RequestEntityTooLargeError extends BerthError {
  constructor(message: string) { super('requestEntityTooLarge', message); }
}
export class NotImplementedError extends BerthError {
  constructor(message: string) { super('notImplemented', message); }
}
export class UnavailableError extends BerthError {
  constructor(message: string) { super('unavailable', message); }
}
export class CancelledError extends BerthError {
  constructor(message = 'cancelled') { super('cancelled', message); }
}
export class DeadlineError extends BerthError {
  constructor(message: string) { super('deadline', message); }
}
export class SystemError extends BerthError {
  constructor(message: string) { super('system', message); }
}
/** The engine has no handler for this job name (Status 127). */
export class JobNotFoundError extends BerthError {
  constructor(job: string) { super('jobNotFound', `${job}: command not found`); }
}

const CLASSES: Record<ErrorKind, new (message: string) => BerthError> = {
  invalidParameter: InvalidParameterError,
  unauthorized: UnauthorizedError,
  forbidden: ForbiddenError,
  notFound: NotFoundError,
  conflict: ConflictError,
  notModified: NotModifiedError,
  requestEntityTooLarge: RequestEntityTooLargeError,
  notImplemented: NotImplementedError,
  unavailable: UnavailableError,
  cancelled: CancelledError,
  deadline: DeadlineError,
  system: SystemError,
  jobNotFound: class extends BerthError {
    constructor(message: string) { super('jobNotFound', message); }
  },
};

/** The shape an error takes on the wire. */
export interface WireError {
  kind: ErrorKind;
  message: string;
}

/** kindOf classifies any thrown value; unclassified errors are `system` (HTTP 500). */
export function kindOf(err: unknown): ErrorKind {
  if (err instanceof BerthError) return err.kind;
  return 'system';
}

export function toWire(err: unknown): WireError {
  if (err instanceof BerthError) return { kind: err.kind, message: err.message };
  if (err instanceof Error) return { kind: 'system', message: err.message };
  return { kind: 'system', message: String(err) };
}

export function fromWire(w: WireError): BerthError {
  const Cls = Object.hasOwn(CLASSES, w.kind) ? CLASSES[w.kind] : SystemError;
  return new Cls(w.message);
}

export function httpStatusOf(err: unknown): number {
  return ERROR_TABLE[kindOf(err)].http;
}

export function jobStatusOf(err: unknown): StatusCode {
  return ERROR_TABLE[kindOf(err)].status;
}

/** withContext is the same kind of error with dockerd's context in front ("Cannot kill container: x: "). */
export function withContext(err: unknown, context: string): BerthError {
  const w = toWire(err);
  return fromWire({ kind: w.kind, message: `${context}${w.message}` });
}
