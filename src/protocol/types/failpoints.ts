/**
 * Fault injection (only with --debug-failpoints). A failpoint is named after the job it
 * intercepts ("job/graph_status") and says what the owning actor does when that job arrives.
 * `count` bounds how many times it fires (0 = until cleared). The engine keeps the table and
 * the counts, so a failpoint that crashes an actor does not fire again from a stale copy.
 */
export type FailpointActionName = 'crash' | 'exit' | 'hang' | 'oom' | 'delay' | 'error';

export interface FailpointSpec {
  name: string;
  action: FailpointActionName;
  /** delay: milliseconds; exit: exit code; error: the error kind. */
  arg?: number | string;
  /** error: the message. */
  message?: string;
  count?: number;
  /** How many times it has fired (read-only). */
  hits?: number;
}
