// Thin helpers over test/lib/smtp-script.ts for the cleanup fixtures.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { masterPorts } from '../lib/daemon.js';
export { formatSessions, loadSessions, playSession, compareSession } from '../lib/smtp-script.js';

/** The smtpd port of a fixture's master.cf. */
export function masterPortOf(dir: string): number {
  const ports = masterPorts(fs.readFileSync(path.join(dir, 'master.cf'), 'utf8'));
  if (ports.length !== 1) throw new Error(`${dir}: expected one inet port, found ${ports.length}`);
  return ports[0]!;
}
