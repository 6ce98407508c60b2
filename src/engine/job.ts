/**
 * Job is the unit of work (seed §5.5.3, the 2014 engine/job.go): a name, args, an Env,
 * stdin/stdout/stderr, and a Status when it ends. Handlers on the main thread receive the Job;
 * jobs owned by an actor are forwarded to its worker by the supervisor, stdout port included.
 *
 * Unlike 2014, args and result are typed (src/protocol/jobs.ts) and a failure is a typed error
 * whose kind decides the Status (errdefs); 127 still means "no handler for this name".
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { Status, jobStatusOf, type StatusCode } from '../errdefs/errors.js';
import { Env } from '../protocol/env.js';
import { PortReader, PortWriter } from '../protocol/stream.js';

export type Handler = (job: Job) => Promise<unknown>;

/**
 * JobOutput is a job's stdout or stderr. For a streaming job it writes to the caller's
 * MessagePort; otherwise it keeps what was written, so the caller can read it as text
 * (the seed's `commands` prints its names there).
 */
export class JobOutput {
  private writer: PortWriter | null = null;
  private port: MessagePort | null;
  private readonly chunks: Buffer[] = [];

  constructor(port: MessagePort | null, private readonly onText?: (text: string) => void) {
    this.port = port;
  }

  /** Whether the caller is reading this output as a stream. */
  get isStream(): boolean {
    return this.port !== null || this.writer !== null;
  }

  /** The writer over the caller's port (main-thread handlers of streaming jobs use it). */
  get stream(): PortWriter | null {
    if (!this.writer && this.port) {
      this.writer = new PortWriter(this.port);
      this.port = null;
    }
    return this.writer;
  }

  /** takePort hands the raw port on (to the worker that owns the job); it can be taken once. */
  takePort(): MessagePort | null {
    const p = this.port;
    this.port = null;
    return p;
  }

  async write(chunk: string | Uint8Array): Promise<void> {
    const s = this.stream;
    if (s) return s.write(chunk);
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk);
    this.chunks.push(buf);
    this.onText?.(buf.toString());
  }

  printf(text: string): Promise<void> {
    return this.write(text);
  }

  text(): string {
    return Buffer.concat(this.chunks).toString();
  }

  /** end finishes a stream (sending its end frame even if nothing was written) and closes the port. */
  end(): void {
    this.stream?.end();
  }

  fail(err: unknown): void {
    this.stream?.fail(err);
  }
}

/**
 * JobInput is a job's stdin: the caller's port, read here by a main-thread handler, or handed
 * on untouched to the worker that owns the job.
 */
export class JobInput {
  private reader: PortReader | null = null;
  constructor(private port: MessagePort | null) {}

  get stream(): PortReader | null {
    if (!this.reader && this.port) {
      this.reader = new PortReader(this.port);
      this.port = null;
    }
    return this.reader;
  }

  takePort(): MessagePort | null {
    const p = this.port;
    this.port = null;
    return p;
  }

  /** close tells the sender nobody will read (a job that ended without reading its input). */
  close(): void {
    if (this.port) this.stream;
    this.reader?.close();
  }
}

export interface JobInit {
  id: number;
  name: string;
  args: unknown;
  env?: Env | readonly string[];
  stdoutPort?: MessagePort | null;
  stdinPort?: MessagePort | null;
  signal?: AbortSignal;
  /** Who asked: an actor name, or 'main'. For logs and the SIGQUIT dump. */
  from: string;
  onStderr?: (text: string) => void;
}

export class Job {
  readonly id: number;
  readonly name: string;
  readonly args: unknown;
  readonly env: Env;
  readonly stdout: JobOutput;
  readonly stderr: JobOutput;
  readonly stdin: JobInput;
  readonly from: string;
  readonly startedAt = Date.now();
  status: StatusCode | undefined;
  handler: Handler | null = null;
  private readonly abort = new AbortController();

  constructor(init: JobInit) {
    this.id = init.id;
    this.name = init.name;
    this.args = init.args ?? {};
    this.env = init.env instanceof Env ? init.env : new Env(init.env ?? []);
    this.stdout = new JobOutput(init.stdoutPort ?? null);
    this.stderr = new JobOutput(null, init.onStderr);
    this.stdin = new JobInput(init.stdinPort ?? null);
    this.from = init.from;
    if (init.signal) {
      if (init.signal.aborted) this.abort.abort();
      else init.signal.addEventListener('abort', () => this.abort.abort(), { once: true });
    }
  }

  /** Fires when the caller cancels or the engine shuts streaming jobs down. */
  get signal(): AbortSignal {
    return this.abort.signal;
  }

  cancel(): void {
    this.abort.abort();
  }

  /** setStatus records how the job ended, from its error (or OK). */
  finish(err?: unknown): void {
    this.status = err === undefined ? Status.OK : jobStatusOf(err);
  }

  /** A channel whose far end reads this job's stdout (for in-process callers of stream jobs). */
  static outputChannel(): { port: MessagePort; reader: PortReader } {
    const { port1, port2 } = new MessageChannel();
    return { port: port2, reader: new PortReader(port1) };
  }

  /** name(args) for logs, the SIGQUIT dump and /debug/actors: credentials are never shown. */
  describe(): string {
    const a = redactedJSON(this.args);
    return `${this.name}(${a && a.length > 120 ? a.slice(0, 117) + '...' : a})`;
  }
}

/**
 * Keys whose values are credentials, at any depth of a job's args (an AuthConfig's password,
 * auth, identitytoken, registrytoken; an X-Registry-Auth header kept as is).
 */
const SECRET_KEY = /^(password|passwd|auth|identity_?token|registry_?token|x-registry-auth|registry_?auth|x-registry-config)$/i;

/** JSON of job args with every credential replaced by "<redacted>" (a value that cannot be read is "<unreadable>"). */
export function redactedJSON(args: unknown): string {
  try {
    return JSON.stringify(args, (key, value: unknown) => (key && SECRET_KEY.test(key) && value !== undefined && value !== null && value !== '' ? '<redacted>' : value));
  } catch {
    return '"<unreadable>"';
  }
}
