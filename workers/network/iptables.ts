/**
 * berth's firewall rules, with iptables directly (not the CNI plugins: dockerd's rule shapes —
 * DNAT for published ports, masquerading, isolation between bridges — are what users and
 * their tooling expect to see in `iptables -S`, and the actor must own and undo exactly what
 * it added, which per-invocation plugins make harder to follow).
 *
 * Everything berth adds lives in its own chains (BERTH, BERTH-FORWARD, BERTH-POSTROUTING,
 * BERTH-ISOLATION-STAGE-1/2, BERTH-USER), reached by one jump rule from each built-in chain, so
 * a dockerd on the same host (DOCKER* chains) and berth never touch each other's rules.
 * Rules are added and deleted in batches with `iptables-restore --noflush` (one process per
 * batch); a batch of deletions that fails (a rule already gone) is retried rule by rule.
 */
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { SystemError } from '../../src/errdefs/errors.js';

const run = promisify(execFile);

export type Table = 'filter' | 'nat';

/** Rules by table, as "-A CHAIN …" lines. */
export type Rules = Partial<Record<Table, string[]>>;

function count(r: Rules): number {
  return (r.filter?.length ?? 0) + (r.nat?.length ?? 0);
}

function toDelete(rule: string): string {
  return rule.replace(/^-A /, '-D ');
}

export const CHAINS: Record<Table, string[]> = {
  filter: ['BERTH', 'BERTH-FORWARD', 'BERTH-ISOLATION-STAGE-1', 'BERTH-ISOLATION-STAGE-2', 'BERTH-USER'],
  nat: ['BERTH', 'BERTH-POSTROUTING'],
};

/** The jumps from the built-in chains; FORWARD's goes first, so berth sees its traffic first. */
const JUMPS: Array<{ table: Table; chain: string; rule: string; insert: boolean }> = [
  { table: 'filter', chain: 'FORWARD', rule: '-j BERTH-FORWARD', insert: true },
  { table: 'nat', chain: 'PREROUTING', rule: '-m addrtype --dst-type LOCAL -j BERTH', insert: false },
  // Loopback too (no userland proxy): 127.0.0.1:PORT reaches a published port in the kernel.
  { table: 'nat', chain: 'OUTPUT', rule: '-m addrtype --dst-type LOCAL -j BERTH', insert: false },
  { table: 'nat', chain: 'POSTROUTING', rule: '-j BERTH-POSTROUTING', insert: false },
];

export class Firewall {
  constructor(readonly enabled: boolean) {}

  private async iptables(args: string[]): Promise<{ ok: boolean; stderr: string }> {
    try {
      await run('iptables', ['-w', '5', ...args], { timeout: 20_000 });
      return { ok: true, stderr: '' };
    } catch (err) {
      return { ok: false, stderr: String((err as { stderr?: string }).stderr ?? (err as Error).message).trim() };
    }
  }

  /** restore applies rules of several tables in one iptables-restore (one process). */
  private restore(rules: Rules): Promise<{ ok: boolean; stderr: string }> {
    const input = (Object.entries(rules) as Array<[Table, string[]]>)
      .filter(([, lines]) => lines.length)
      .map(([table, lines]) => `*${table}\n${lines.join('\n')}\nCOMMIT\n`)
      .join('');
    return new Promise((resolve) => {
      const child = spawn('iptables-restore', ['-w', '5', '--noflush'], { stdio: ['pipe', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', (err) => resolve({ ok: false, stderr: err.message }));
      child.on('close', (code) => resolve({ ok: code === 0, stderr: stderr.trim() }));
      child.stdin.end(input);
    });
  }

  /** setup makes berth's chains and the jumps to them (idempotent: a restart finds them there). */
  async setup(): Promise<void> {
    if (!this.enabled) return;
    for (const table of ['filter', 'nat'] as const) {
      for (const chain of CHAINS[table]) {
        const r = await this.iptables(['-t', table, '-N', chain]);
        if (!r.ok && !/exists/i.test(r.stderr)) throw new SystemError(`iptables: cannot create chain ${chain} in ${table}: ${r.stderr}`);
      }
    }
    // The fixed rules of berth's own chains: users' rules first, then isolation.
    await this.ensure('filter', 'BERTH-FORWARD', '-j BERTH-USER', true);
    await this.ensure('filter', 'BERTH-FORWARD', '-j BERTH-ISOLATION-STAGE-1', false);
    for (const j of JUMPS) await this.ensure(j.table, j.chain, j.rule, j.insert);
  }

  /** ensure adds a rule unless it is there (checked with -C). */
  async ensure(table: Table, chain: string, rule: string, insert: boolean): Promise<void> {
    if (!this.enabled) return;
    const spec = split(rule);
    if ((await this.iptables(['-t', table, '-C', chain, ...spec])).ok) return;
    const r = await this.iptables(['-t', table, insert ? '-I' : '-A', chain, ...(insert ? ['1'] : []), ...spec]);
    if (!r.ok) throw new SystemError(`iptables: cannot add "${rule}" to ${table}/${chain}: ${r.stderr}`);
  }

  /**
   * ensureAll appends those of the rules that are not there yet (a restart after a crash finds
   * the last run's rules in place: they are not added twice).
   */
  async ensureAll(table: Table, rules: string[]): Promise<void> {
    if (!this.enabled || rules.length === 0) return;
    const r = await run('iptables', ['-w', '5', '-t', table, '-S'], { timeout: 20_000 });
    const have = new Set(r.stdout.split('\n').map((l) => l.trim()));
    await this.add({ [table]: rules.filter((rule) => !have.has(rule)) });
  }

  /** add appends rules ("-A CHAIN …" lines), every table in one batch. */
  async add(rules: Rules): Promise<void> {
    if (!this.enabled || count(rules) === 0) return;
    const r = await this.restore(rules);
    if (!r.ok) throw new SystemError(`iptables: ${r.stderr || 'iptables-restore failed'}`);
  }

  /** remove deletes rules (given as their "-A CHAIN …" lines); ones already gone are no error. */
  async remove(rules: Rules): Promise<void> {
    if (!this.enabled || count(rules) === 0) return;
    // filter first: a packet never meets an ACCEPT whose DNAT is already gone.
    const deletes: Rules = { filter: (rules.filter ?? []).map(toDelete), nat: (rules.nat ?? []).map(toDelete) };
    if ((await this.restore(deletes)).ok) return;
    for (const table of ['filter', 'nat'] as const) for (const d of deletes[table] ?? []) await this.iptables(['-t', table, ...split(d)]);
  }

  /**
   * teardown removes the jumps and berth's chains (a clean stop without --live-restore), after
   * the caller removed its own rules — unless another berthd's rules are still in them.
   */
  async teardown(): Promise<void> {
    if (!this.enabled) return;
    const fixed = new Set(['-A BERTH-FORWARD -j BERTH-USER', '-A BERTH-FORWARD -j BERTH-ISOLATION-STAGE-1']);
    for (const table of ['filter', 'nat'] as const) {
      const r = await run('iptables', ['-w', '5', '-t', table, '-S'], { timeout: 20_000 }).catch(() => ({ stdout: '' }));
      const others = r.stdout.split('\n').filter((l) => /^-A BERTH/.test(l) && !fixed.has(l.trim()));
      if (others.length) return;
    }
    for (const j of JUMPS) {
      while ((await this.iptables(['-t', j.table, '-D', j.chain, ...split(j.rule)])).ok) {
        // the rule could have been added twice by hand: remove every copy
      }
    }
    for (const table of ['filter', 'nat'] as const) {
      for (const chain of CHAINS[table]) await this.iptables(['-t', table, '-F', chain]);
      for (const chain of CHAINS[table]) await this.iptables(['-t', table, '-X', chain]);
    }
  }
}

/** split turns a rule into arguments (no rule of berth's quotes anything). */
function split(rule: string): string[] {
  return rule.trim().split(/\s+/);
}
