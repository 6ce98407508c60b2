/**
 * trap is the seed's signal.Trap (§5.3): SIGINT or SIGTERM runs the cleanup (engine shutdown)
 * once and exits 0; a third one exits at once, without cleanup, with 128+signal. SIGQUIT exits
 * at once with a dump of the actors and the jobs in flight — unless DEBUG is set, in which
 * case it is not trapped at all and the default action applies, as in the seed.
 */
import { constants } from 'node:os';
import { log } from '../log/log.js';

export interface TrapOptions {
  cleanup: () => Promise<void>;
  /** Writes the SIGQUIT dump (synchronously). */
  dump: () => void;
  exit?: (code: number) => never;
}

export function trap(opts: TrapOptions): () => void {
  const exit = opts.exit ?? ((code: number) => process.exit(code));
  let interrupts = 0;
  const onTerm = (sig: NodeJS.Signals) => {
    interrupts++;
    if (interrupts === 1) {
      log('info', `Processing signal '${sig}'`);
      opts.cleanup().then(
        () => exit(0),
        (err) => {
          log('error', 'shutdown failed', { error: String(err) });
          exit(1);
        },
      );
    } else if (interrupts >= 3) {
      log('warn', `Forcing berthd shutdown without cleanup; ${interrupts} interrupts/terms received`);
      exit(128 + constants.signals[sig]);
    } else {
      log('info', `Received ${sig} again; one more forces an exit without cleanup`);
    }
  };
  const onQuit = () => {
    log('info', 'Received SIGQUIT: dumping actors and jobs, then exiting');
    opts.dump();
    exit(128 + constants.signals.SIGQUIT);
  };
  process.on('SIGINT', onTerm);
  process.on('SIGTERM', onTerm);
  const quit = !process.env.DEBUG;
  if (quit) process.on('SIGQUIT', onQuit);
  return () => {
    process.off('SIGINT', onTerm);
    process.off('SIGTERM', onTerm);
    if (quit) process.off('SIGQUIT', onQuit);
  };
}
