#!/usr/bin/env node
/**
 * berthd: the entry point. It parses the command line (seed §5.0–5.1) and hands a valid
 * config to mainDaemon. Usage mistakes exit 2 (the seed's flag package); configuration
 * problems exit 1, as dockerd's do.
 */
import { writeSync } from 'node:fs';
import { ConfigError, loadConfig } from '../config/config.js';
import { UsageError } from '../config/parse.js';
import { usage } from '../config/flags.js';
import { buildInfo } from '../build/info.js';
import { mainDaemon } from '../main.js';

function die(code: number, text: string): never {
  writeSync(2, text.endsWith('\n') ? text : `${text}\n`);
  process.exit(code);
}

let inv;
try {
  inv = loadConfig(process.argv.slice(2));
} catch (err) {
  if (err instanceof UsageError) {
    const tail = err.showUsage ? `\n\nUsage:  berthd [OPTIONS]\n\nA container daemon that speaks the Docker Engine API.` : '';
    die(2, `${err.message}\nSee 'berthd --help'.${tail}`);
  }
  if (err instanceof ConfigError) die(1, err.message);
  throw err;
}

if (inv.kind === 'help') {
  writeSync(1, usage());
  process.exit(0);
}
if (inv.kind === 'version') {
  const b = buildInfo();
  writeSync(1, `berth version ${b.version}, build ${b.commit}\n`);
  process.exit(0);
}
if (process.getuid?.() !== 0) {
  die(1, 'berthd needs to be started with root privileges');
}
mainDaemon(inv.config).catch((err) => die(1, `failed to start daemon: ${err instanceof Error ? err.message : String(err)}`));
