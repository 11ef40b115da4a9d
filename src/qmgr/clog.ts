// Mirrors the "clogged queue" warning of Postfix's qmgr/qmgr_entry.c
// (qmgr_entry_create): when one destination holds more than a fifth of
// qmgr_message_active_limit entries, qmgr says so, with a hint that
// depends on why, at most once per qmgr_clog_warn_time per destination.
// Logging only.
import type { QmgrMessage } from './message.js';
import type { Qmgr } from './qmgr.js';
import type { DestQueue } from './queue.js';

export function clogWarning(qm: Qmgr, q: DestQueue<QmgrMessage>): void {
  const p = qm.params;
  if (!p.helpfulWarnings || p.clogWarnTime <= 0) return;
  const length = q.todo.length + q.busy;
  const now = qm.clock.now().sec;
  if (length <= p.activeLimit / 5 || now < q.clogTimeToWarn) return;
  const count = qm.messages.size;
  const share = length / count;
  const warn = (t: string) => qm.log.warning(t);
  const t = q.transport;
  warn(`mail for ${q.nexthop} is using up ${length} of ${count} active queue entries`);
  if (share < 0.9) warn('this may slow down other mail deliveries');
  const peers = new Set(q.todo.map((e) => e.message)).size;
  if (t.limits.concurrencyLimit > 0 && t.limits.concurrencyLimit <= q.busy + 1) {
    warn(`you may need to increase the main.cf ${t.name}_destination_concurrency_limit from ${t.limits.concurrencyLimit}`);
  } else if (q.window > p.activeLimit * share) {
    warn(`you may need to increase the main.cf qmgr_message_active_limit from ${p.activeLimit}`);
  } else if (peers > 1) {
    warn(`you may need a separate master.cf transport for ${q.nexthop}`);
  } else {
    warn(`you may need to reduce ${t.name} connect and helo timeouts`);
    warn('so that Postfix quickly skips unavailable hosts');
    warn('you may need to increase the main.cf minimal_backoff_time and maximal_backoff_time');
    warn('so that Postfix wastes less time on undeliverable mail');
    warn(`you may need to increase the master.cf ${t.name} process limit`);
  }
  warn('please avoid flushing the whole queue when you have');
  warn('lots of deferred mail, that is bad for performance');
  warn('to turn off these warnings specify: qmgr_clog_warn_time = 0');
  q.clogTimeToWarn = now + p.clogWarnTime;
}
