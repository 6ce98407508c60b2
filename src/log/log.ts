/**
 * Log records in dockerd's (logrus text) format, written synchronously to stderr:
 *   time="2026-11-28T20:22:20.123456789Z" level=info msg="API listen on /run/berth/berth.sock"
 * Synchronous writes, because a daemon's last words before a crash must not be lost.
 * Workers do not write here themselves: they post log envelopes to the engine (src/actor).
 */
import { writeSync } from 'node:fs';
import type { LogLevel } from '../protocol/messages.js';

const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
let threshold: LogLevel = 'info';

export function setLogLevel(level: LogLevel): void {
  threshold = level;
}

export function logLevel(): LogLevel {
  return threshold;
}

export function enabled(level: LogLevel): boolean {
  return ORDER[level] >= ORDER[threshold];
}

function quote(v: unknown): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return /^[A-Za-z0-9_./:@+-]+$/.test(s ?? '') ? String(s) : JSON.stringify(s ?? '');
}

/** nanoTime formats now as RFC 3339 with nanoseconds, as Go does. */
export function rfc3339Nano(ms = Date.now(), extraNs = 0): string {
  const iso = new Date(ms).toISOString(); // 2026-11-28T20:22:20.123Z
  const frac = String((ms % 1000) * 1_000_000 + extraNs).padStart(9, '0');
  return `${iso.slice(0, 19)}.${frac}Z`;
}

export function format(level: LogLevel, msg: string, fields?: Record<string, unknown>): string {
  const hr = process.hrtime.bigint() % 1_000_000n;
  let line = `time="${rfc3339Nano(Date.now(), Number(hr))}" level=${level === 'warn' ? 'warning' : level} msg=${JSON.stringify(msg)}`;
  if (fields) for (const [k, v] of Object.entries(fields)) if (v !== undefined) line += ` ${k}=${quote(v)}`;
  return line + '\n';
}

export function log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void {
  if (!enabled(level)) return;
  try {
    writeSync(2, format(level, msg, fields));
  } catch {
    // stderr is gone (EPIPE): nothing sensible left to do with a log line.
  }
}

export const logger = {
  debug: (msg: string, fields?: Record<string, unknown>) => log('debug', msg, fields),
  info: (msg: string, fields?: Record<string, unknown>) => log('info', msg, fields),
  warn: (msg: string, fields?: Record<string, unknown>) => log('warn', msg, fields),
  error: (msg: string, fields?: Record<string, unknown>) => log('error', msg, fields),
};
export type Logger = typeof logger;
