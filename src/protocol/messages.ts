/**
 * Envelopes between the engine (main thread) and an actor (worker thread).
 *
 * Every envelope is msgpack bytes (codec.ts) posted as {b} with its buffer transferred; a job
 * that streams output also carries a MessagePort {p} for its stdout, and one that reads input a
 * port {i} for its stdin (stream.ts), so bytes flow between the actors without passing through
 * the main thread.
 *
 * Three kinds of traffic, as OTP's call/cast/info:
 *   job → reply    a call; either side may start one (the api actor submits jobs to the engine)
 *   cancel         the caller gave up (client gone, deadline): the handler's AbortSignal fires
 *   log            a worker's log record, written by the engine (a busy worker's console is lossy)
 */
import type { MessagePort } from 'node:worker_threads';
import type { WireError } from '../errdefs/errors.js';
import type { StatusCode } from '../errdefs/errors.js';

/** Bumped whenever an envelope or a job's args/result change incompatibly. */
export const PROTOCOL_VERSION = 1;

/** What a failpoint asks an actor to do when a job arrives (only with --debug-failpoints). */
export type FailpointAction =
  | { action: 'crash' }
  | { action: 'exit'; code?: number }
  | { action: 'hang' }
  | { action: 'oom' }
  | { action: 'delay'; ms: number }
  | { action: 'error'; kind: WireError['kind']; message: string };

export interface JobEnvelope {
  t: 'job';
  id: number;
  job: string;
  args: unknown;
  /** The seed's Env, as "KEY=value" strings. */
  env?: string[];
  /** Milliseconds the caller will wait; 0 = no deadline. */
  timeoutMs?: number;
  /** Set by the engine when a failpoint matched this job. */
  fp?: FailpointAction;
}

export interface ReplyEnvelope {
  t: 'reply';
  id: number;
  status: StatusCode;
  result?: unknown;
  error?: WireError;
}

export interface CancelEnvelope {
  t: 'cancel';
  id: number;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface LogEnvelope {
  t: 'log';
  level: LogLevel;
  msg: string;
  fields?: Record<string, unknown>;
}

/** The first message a worker sends: what it is and which jobs it serves. */
export interface HelloEnvelope {
  t: 'hello';
  v: number;
  actor: string;
  jobs: string[];
}

export type Envelope = JobEnvelope | ReplyEnvelope | CancelEnvelope | LogEnvelope | HelloEnvelope;

/** What is actually posted on the port: the envelope, and the job's stdout (p) and stdin (i) ports. */
export interface Posted {
  b: Uint8Array;
  p?: MessagePort;
  i?: MessagePort;
}

/** Ports that travel with a job envelope. */
export interface JobPorts {
  stdout?: MessagePort;
  stdin?: MessagePort;
}

/** workerData every actor receives. */
export interface ActorWorkerData {
  actor: string;
  protocolVersion: number;
  /** comlink control channel (health, stats, shutdown). */
  control: MessagePort;
  /** Health-ping budget, so the actor's own timers can be sized. */
  logLevel: LogLevel;
}
