/**
 * Worker entries that misbehave at start, for the supervisor's handshake tests. The mode comes
 * from workerData.actor's suffix: "network" with BAD_MODE=silent never says hello;
 * BAD_MODE=version says hello with a protocol the engine does not speak.
 */
import { parentPort } from 'node:worker_threads';
import { encode } from '../../src/protocol/codec.js';

const mode = process.env.BAD_MODE ?? 'silent';
if (mode === 'version') {
  const b = encode({ t: 'hello', v: 999, actor: 'network', jobs: [] });
  parentPort!.postMessage({ b }, [b.buffer as ArrayBuffer]);
} else if (mode === 'exit') {
  process.exit(7);
}
// silent: stay alive, say nothing.
setInterval(() => {}, 1 << 30);
