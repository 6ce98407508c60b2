/**
 * The api actor (seed §5.4.2): serveapi listens on every -H host; acceptconnections opens the
 * gate for requests and tells the service manager we are ready (sd_notify READY=1). Requests
 * are served here; each real one becomes one engine job.
 */
import { runActor, type Handlers } from '../../src/actor/runtime.js';
import { sdNotify } from '../../src/systemd/sdNotify.js';
import { ApiServer } from './server.js';

let server: ApiServer | null = null;

const handlers: Handlers<'api'> = {
  serveapi: async (args, ctx) => {
    server = new ApiServer(ctx.engine, ctx.log);
    const listening = await server.serve(args, ctx.env.get('Version') || '0.0.0');
    return { listening };
  },
  api_status: async () => {
    if (!server) return { listeners: 0, requestsInFlight: 0, accepting: false };
    return server.status();
  },
  acceptconnections: async (_args, ctx) => {
    if (!server) throw new Error('acceptconnections before serveapi');
    // READY=1 only once the sockets listen, so "ready" means reachable.
    await server.accept();
    // As dockerd: a service manager we cannot reach is worth a warning, not a failed start.
    try {
      return { notified: sdNotify('READY=1') };
    } catch (err) {
      ctx.log.warn(`could not notify the service manager: ${(err as Error).message}`);
      return { notified: false };
    }
  },
};

runActor('api', {
  handlers,
  shutdown: async () => {
    await server?.close();
  },
  stats: () => ({ ...(server?.status() ?? {}) }),
});
