/**
 * Health checks (dockerd's daemon/health.go): while a container with a healthcheck runs, a
 * probe every Interval (the first one an interval after the start), each an exec session;
 * FailingStreak, the status (starting → healthy/unhealthy), the last five results, and a
 * `health_status: <status>` event when the status changes.
 */
import { InvalidParameterError } from '../../errdefs/errors.js';
import { logger } from '../../log/log.js';
import { nowRfc3339Nano } from '../../protocol/time.js';
import type { HealthState } from '../../protocol/types/containers.js';
import type { ContainerRecord } from './store.js';

export interface Healthcheck {
  Test?: string[] | null;
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  Retries?: number;
}

const SECOND = 1e9;
const DEFAULT_INTERVAL = 30 * SECOND;
const DEFAULT_TIMEOUT = 30 * SECOND;
const DEFAULT_RETRIES = 3;
const MAX_LOG_ENTRIES = 5;
const MIN_DURATION = 1e6; // 1ms

/** mergeHealthcheck is dockerd's merge of the request's healthcheck over the image's. */
export function mergeHealthcheck(user: Healthcheck | null, image: Healthcheck | null): Healthcheck | null {
  if (!user) return image ? { ...image } : null;
  if (!image) return { ...user };
  const out: Healthcheck = { ...user };
  if (!out.Test || out.Test.length === 0) out.Test = image.Test;
  if (!out.Interval) out.Interval = image.Interval;
  if (!out.Timeout) out.Timeout = image.Timeout;
  if (!out.StartPeriod) out.StartPeriod = image.StartPeriod;
  if (!out.Retries) out.Retries = image.Retries;
  return out;
}

/** checkHealthcheck refuses what dockerd refuses, and drops the fields that are zero (omitempty). */
export function checkHealthcheck(h: Record<string, unknown> | null): Healthcheck | null {
  if (!h) return null;
  const out: Healthcheck = {};
  if (h.Test !== undefined && h.Test !== null) {
    if (!Array.isArray(h.Test) || h.Test.some((x) => typeof x !== 'string')) throw new InvalidParameterError('invalid type for field Healthcheck.Test: expected an array of strings');
    out.Test = h.Test as string[];
  }
  const dur = (key: 'Interval' | 'Timeout' | 'StartPeriod', what: string) => {
    const v = h[key];
    if (v === undefined || v === null || v === 0) return;
    if (typeof v !== 'number' || !Number.isInteger(v)) throw new InvalidParameterError(`invalid type for field Healthcheck.${key}: expected a number`);
    if (v < MIN_DURATION) throw new InvalidParameterError(`${what} in Healthcheck cannot be less than 1ms`);
    out[key] = v;
  };
  dur('Interval', 'Interval');
  dur('Timeout', 'Timeout');
  dur('StartPeriod', 'StartPeriod');
  if (h.Retries !== undefined && h.Retries !== null && h.Retries !== 0) {
    if (typeof h.Retries !== 'number' || !Number.isInteger(h.Retries)) throw new InvalidParameterError('invalid type for field Healthcheck.Retries: expected a number');
    if (h.Retries < 0) throw new InvalidParameterError('Retries in Healthcheck cannot be negative');
    out.Retries = h.Retries;
  }
  return out;
}

/** The probe's argv: CMD-SHELL goes through /bin/sh -c; NONE or nothing means no checks. */
export function probeCommand(h: Healthcheck | null | undefined): string[] | null {
  const test = h?.Test;
  if (!test || test.length === 0) return null;
  switch (test[0]) {
    case 'NONE':
      return null;
    case 'CMD':
      return test.length > 1 ? test.slice(1) : null;
    case 'CMD-SHELL':
      return ['/bin/sh', '-c', test.slice(1).join(' ')];
    default:
      // An image's old form without the type word is a shell command (dockerd's).
      return ['/bin/sh', '-c', test.join(' ')];
  }
}

/** Go's time.Duration String for the timeout message: 500ms, 1s, 1m30s. */
export function goDuration(ns: number): string {
  if (ns < SECOND) {
    if (ns % 1e6 === 0) return `${ns / 1e6}ms`;
    if (ns % 1e3 === 0) return `${ns / 1e3}µs`;
    return `${ns}ns`;
  }
  let rest = ns / SECOND;
  const h = Math.floor(rest / 3600);
  rest -= h * 3600;
  const m = Math.floor(rest / 60);
  rest -= m * 60;
  const s = `${Number(rest.toFixed(9))}s`;
  return h ? `${h}h${m}m${s}` : m ? `${m}m${s}` : s;
}

export interface HealthHost {
  probe(rec: ContainerRecord, cmd: string[], timeoutMs: number): Promise<{ exitCode: number; output: string; timedOut: boolean }>;
  publish(rec: ContainerRecord, action: string): void;
  save(rec: ContainerRecord): Promise<void>;
}

/** HealthMonitor runs the probes of the containers that have a healthcheck. */
export class HealthMonitor {
  private readonly timers = new Map<string, { timer: NodeJS.Timeout | null; stopped: boolean }>();

  constructor(private readonly h: HealthHost) {}

  /** started begins a container's checks: status starting, streak 0, the old log kept. */
  started(rec: ContainerRecord): void {
    this.stopped(rec, false);
    const hc = rec.Config.Healthcheck as Healthcheck | undefined;
    const cmd = probeCommand(hc);
    if (!cmd) return;
    const prev = rec.State.Health;
    rec.State.Health = { Status: 'starting', FailingStreak: 0, Log: prev?.Log ?? [] };
    const interval = (hc?.Interval || DEFAULT_INTERVAL) / 1e6;
    const slot: { timer: NodeJS.Timeout | null; stopped: boolean } = { timer: null, stopped: false };
    this.timers.set(rec.ID, slot);
    const next = () => {
      if (slot.stopped) return;
      slot.timer = setTimeout(() => {
        void this.probeOnce(rec, hc!, cmd)
          .catch((err) => logger.warn(`health check of ${rec.ID}: ${(err as Error).message}`))
          .finally(next);
      }, interval);
    };
    next();
  }

  /** stopped ends its checks; on an exit the status is unhealthy (dockerd's inspect after a stop). */
  stopped(rec: ContainerRecord, exited = true): void {
    const slot = this.timers.get(rec.ID);
    if (slot) {
      slot.stopped = true;
      if (slot.timer) clearTimeout(slot.timer);
      this.timers.delete(rec.ID);
    }
    if (exited && rec.State.Health) rec.State.Health = { ...rec.State.Health, Status: 'unhealthy' };
  }

  private async probeOnce(rec: ContainerRecord, hc: Healthcheck, cmd: string[]): Promise<void> {
    if (!rec.State.Running || rec.State.Paused || rec.State.Restarting) return;
    const timeout = hc.Timeout || DEFAULT_TIMEOUT;
    const start = nowRfc3339Nano();
    const startMs = Date.now();
    const r = await this.h.probe(rec, cmd, timeout / 1e6);
    const slot = this.timers.get(rec.ID);
    if (!slot || slot.stopped || !rec.State.Health) return; // it stopped meanwhile
    const entry = { Start: start, End: nowRfc3339Nano(), ExitCode: r.timedOut ? -1 : r.exitCode, Output: r.timedOut ? `Health check exceeded timeout (${goDuration(timeout)})` : r.output };
    const health: HealthState = rec.State.Health;
    const before = health.Status;
    health.Log = [...health.Log, entry].slice(-MAX_LOG_ENTRIES);
    if (entry.ExitCode === 0) {
      health.FailingStreak = 0;
      health.Status = 'healthy';
    } else {
      // A failure within the start period does not count while it has never been healthy.
      const inStartPeriod = health.Status === 'starting' && startMs - Date.parse(rec.State.StartedAt) < (hc.StartPeriod ?? 0) / 1e6;
      if (!inStartPeriod) {
        health.FailingStreak++;
        if (health.FailingStreak >= (hc.Retries || DEFAULT_RETRIES)) health.Status = 'unhealthy';
      }
    }
    await this.h.save(rec).catch(() => {});
    if (health.Status !== before) this.h.publish(rec, `health_status: ${health.Status}`);
  }
}
