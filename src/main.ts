/**
 * mainDaemon is the seed's mainDaemon() (§5): the composition root, and the only place that
 * knows every part. Step by step:
 *
 *   5.1  the config is already parsed and validated (src/config);
 *        the data root, exec root and pidfile are made (and unmade if start-up fails);
 *   5.2  new Engine() (it registers `commands`);
 *   5.3  the signal trap;
 *   5.4  builtins: the events jobs and failpoints on the main thread, and the actors, started
 *        from their child specs, which register init_networkdriver, serveapi,
 *        acceptconnections and the driver jobs;
 *   5.5  the daemon: init the drivers, install the daemon's jobs, then acceptconnections
 *        (open the gate, sd_notify READY=1) — concurrently with:
 *   5.6  one log line: version, commit, exec driver, graph driver;
 *   5.7  serveapi with the seed's job env, listening on every -H host.
 */
import { chmod, lstat, rm, unlink } from 'node:fs/promises';
import { mkdirs } from './fs/mkdirs.js';
import { createConnection } from 'node:net';
import { writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { configAttributes, loadConfig, type DaemonConfig } from './config/config.js';
import { Engine } from './engine/engine.js';
import { Failpoints } from './engine/failpoints.js';
import { Supervisor } from './engine/supervisor.js';
import { childSpecs } from './engine/childSpecs.js';
import { trap } from './engine/trap.js';
import { Events } from './events/events.js';
import { Daemon } from './daemon/daemon.js';
import { createPidfile, type Pidfile } from './daemon/pidfile.js';
import { buildInfo } from './build/info.js';
import { Env } from './protocol/env.js';
import { toWire } from './errdefs/errors.js';
import { log, setLogLevel } from './log/log.js';

function probe(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = createConnection(path);
    c.once('connect', () => (c.destroy(), resolve(true)));
    c.once('error', () => resolve(false));
  });
}

/** removeStaleSockets removes our unix sockets if the api actor could not (it hung or crashed). */
async function removeStaleSockets(cfg: DaemonConfig): Promise<void> {
  for (const h of cfg.hosts) {
    if (h.proto !== 'unix') continue;
    const st = await lstat(h.addr).catch(() => null);
    if (st?.isSocket() && !(await probe(h.addr))) await unlink(h.addr).catch(() => {});
  }
}

export async function mainDaemon(cfg: DaemonConfig): Promise<void> {
  setLogLevel(cfg.logLevel);
  const build = buildInfo();
  log('info', 'Starting up');
  if (cfg.debugFailpoints) log('warn', 'fault injection is enabled (--debug-failpoints): do not use this daemon for real work');

  const engine = new Engine({ logging: true });
  const events = new Events();
  const supervisor = new Supervisor(engine, childSpecs(), { logLevel: cfg.logLevel, onGiveUp: () => void stop(1) });
  engine.onShutdown(() => supervisor.stopAll());
  engine.register('actors', async () => supervisor.dump());
  let pidfile: Pidfile | null = null;
  /** Roots this start created: a failed start removes them, and nothing it did not make. */
  const createdRoots: string[] = [];
  let daemon: Daemon | null = null;

  // The one way out: shut the engine down, remove the sockets and the pidfile, then exit.
  // A failed start also removes the roots it created. Whoever comes first decides the code.
  let exiting: Promise<never> | null = null;
  const stop = (code: number, failure?: unknown): Promise<never> => {
    exiting ??= (async () => {
      if (failure !== undefined) writeSync(2, `${toWire(failure).message}\n`);
      // Running containers are stopped while the engine still takes jobs (unless --live-restore).
      await daemon?.containers.shutdown().catch((err) => log('error', `stopping containers: ${toWire(err).message}`));
      // A failed start undoes its bridge and rules too (they would be made again at the next one).
      if (failure !== undefined && !daemon && !cfg.liveRestore) await engine.call('network_teardown', {}, { timeoutMs: 10_000 }).catch(() => {});
      await engine.shutdown();
      await removeStaleSockets(cfg);
      await pidfile?.remove();
      if (failure !== undefined) for (const root of createdRoots.reverse()) await rm(root, { recursive: true, force: true });
      log('info', failure === undefined ? 'Daemon shutdown complete' : 'Daemon start-up failed');
      process.exit(code);
    })();
    return exiting;
  };
  const fail = (err: unknown): Promise<never> => (exiting ? exiting : stop(1, err));

  // 5.3: the signal trap, and SIGHUP (reload) from the first moment, so no signal meets a
  // half-started daemon with its default action.
  trap({
    cleanup: async () => {
      await stop(0);
    },
    dump: () => {
      const now = Date.now();
      const dump = {
        actors: supervisor.dump(),
        jobs: engine.inFlight().map((j) => ({ id: j.id, job: j.describe(), from: j.from, ageMs: now - j.startedAt })),
      };
      writeSync(2, `=== berthd SIGQUIT dump ===\n${JSON.stringify(dump, null, 2)}\n=== end of dump ===\n`);
    },
  });
  process.on('SIGHUP', () => {
    log('info', `Got signal to reload configuration, reloading from: ${cfg.configFile}`);
    if (!daemon) return log('warn', 'the daemon is still starting: nothing to reload yet');
    try {
      const inv = loadConfig(process.argv.slice(2));
      if (inv.kind !== 'run') return;
      daemon.reload(inv.config);
      setLogLevel(inv.config.logLevel);
      void supervisor.setLogLevel(inv.config.logLevel);
      // dockerd's reload event: the daemon's ID, and its configuration as string attributes.
      events.publish({ Type: 'daemon', Action: 'reload', Actor: { ID: daemon.id, Attributes: { ...configAttributes(daemon.current), name: hostname() } } });
      log('info', 'Reloaded configuration', { debug: inv.config.debug, 'log-level': inv.config.logLevel });
    } catch (err) {
      log('error', `Error reconfiguring the daemon: ${toWire(err).message}`);
    }
  });

  // 5.1: state directories (dockerd's modes, set only on what berth creates) and the pidfile.
  try {
    for (const [path, mode, what] of [[cfg.dataRoot, 0o710, 'data root'], [cfg.execRoot, 0o711, 'exec root']] as const) {
      let top: string | null;
      try {
        top = await mkdirs(path, mode);
        if (top) await chmod(path, mode);
      } catch (err) {
        throw new Error(`failed to start daemon: cannot create the ${what} ${path}: ${(err as Error).message}`);
      }
      if (top) createdRoots.push(top);
    }
    pidfile = await createPidfile(cfg.pidfile);
  } catch (err) {
    return fail(err);
  }

  // 5.4: builtins.
  if (cfg.debugFailpoints) {
    const failpoints = new Failpoints();
    failpoints.install(engine);
    // Presets for faults during start-up itself, as gofail's GOFAIL_FAILPOINTS.
    try {
      failpoints.preset(process.env.BERTH_FAILPOINTS);
    } catch (err) {
      return fail(err);
    }
  } else if (process.env.BERTH_FAILPOINTS) {
    return fail(new Error('BERTH_FAILPOINTS is set, but berthd was not started with --debug-failpoints'));
  }
  try {
    await supervisor.startAll();
  } catch (err) {
    return fail(err);
  }

  // 5.5: the daemon, then acceptconnections — concurrently with 5.7 serveapi.
  const daemonUp = (async () => {
    const d = await Daemon.create({
      engine,
      events,
      config: cfg,
      eventListeners: () => events.subscriberCount,
      threads: () => 1 + supervisor.dump().filter((a) => a.alive).length,
    });
    engine.install<'daemon'>({ ...events.handlers(), ...d.handlers() });
    daemon = d;
    await d.restore();
    // 5.6
    log('info', `berth daemon: ${build.version} ${build.commit}; execdriver: ${d.exec.defaultRuntime}; graphdriver: ${d.graph.driver}`, {
      commit: build.commit,
      execdriver: d.exec.defaultRuntime,
      graphdriver: d.graph.driver,
      version: build.version,
    });
    await engine.call('acceptconnections', {});
  })();

  // 5.7: serveapi, with the seed's job env.
  const env = new Env();
  env.setBool('Logging', true);
  env.setBool('EnableCors', cfg.apiCorsHeader !== '');
  env.set('Version', build.version);
  env.set('SocketGroup', cfg.group);
  env.setBool('Tls', cfg.tls);
  env.setBool('TlsVerify', cfg.tlsVerify);
  env.set('TlsCa', cfg.tlsCaCert);
  env.set('TlsCert', cfg.tlsCert);
  env.set('TlsKey', cfg.tlsKey);
  env.setBool('BufferRequests', true);
  const serving = engine.call(
    'serveapi',
    {
      hosts: cfg.hosts,
      socketGroup: cfg.groupExplicit ? cfg.group : '',
      socketGroupExplicit: cfg.groupExplicit,
      corsHeader: cfg.apiCorsHeader,
      tls: cfg.tls,
      tlsVerify: cfg.tlsVerify,
      tlsCa: cfg.tlsCaCert,
      tlsCert: cfg.tlsCert,
      tlsKey: cfg.tlsKey,
      failpoints: cfg.debugFailpoints,
      maxJsonBody: 16 << 20,
    },
    { env },
  );

  try {
    await Promise.all([serving, daemonUp]);
  } catch (err) {
    return fail(err);
  }
  log('info', 'Daemon has completed initialization');
}
