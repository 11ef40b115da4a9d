// Mirrors master/master_ent.c and master/master_conf.c: master.cf read the
// way master(8) reads it (src/config/mastercf.ts does the parsing), with
// master_service_disable applied, "-" fields defaulted from main.cf,
// inet endpoints and the public/ or private/ path of the other types
// worked out, and each service keyed by its canonical name
// and type so that a reload can tell kept, new and removed services apart.
// Reads master.cf and the name service; starts nothing.
import * as fs from 'node:fs';
import { parseCompatLevel } from '../config/expand.js';
import { parseDaemonEntry, readLogicalLines, splitNameValue, type DaemonEntry } from '../config/mastercf.js';
import { errnoText } from '../util/errno.js';
import { type Endpoint, type Family, type InetAddress, inetEndpoint } from './endpoints.js';

export interface ServiceSpec {
  /** The first master.cf field, as written ("smtp", "127.0.0.1:10025"). */
  ext: string;
  type: string;
  /** canonical name + "/" + type: the identity of a service across reloads. */
  key: string;
  entry: DaemonEntry;
  /** The daemon's "-o name=value" settings, in order. */
  options: Array<[string, string]>;
  /** Daemon flags other than -o ("-v", "-D", ...). */
  flags: string[];
  /** The arguments after the options (pipe's "flags=... user=... argv=..."). */
  args: string[];
  /** inet services: where to listen. */
  endpoint?: Endpoint;
  /** Other types: the socket or FIFO, relative to queue_directory ("private/smtp", "public/pickup"). */
  path?: string;
  line: number;
}

export interface MasterSettings {
  configDir: string;
  defaultProcessLimit: number;
  compatibilityLevel: string;
  masterServiceDisable: string;
  families: Family[];
  /** Where a bare inet port listens (inet_interfaces). */
  bareAddresses: InetAddress[];
}

export type ReadServices = { ok: true; services: ServiceSpec[]; warnings: string[] } | { ok: false; error: string };

/**
 * The -o settings and other flags of a daemon's arguments (the getopt loop
 * of mail_server), and the arguments after them (pipe's attributes).
 */
export function daemonOptions(args: readonly string[]): { options: Array<[string, string]>; flags: string[]; rest: string[] } {
  const options: Array<[string, string]> = [];
  const flags: string[] = [];
  let i = 0;
  for (; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      i++;
      break;
    }
    if (arg[0] !== '-') break;
    const value = arg === '-o' ? args[++i] : arg.startsWith('-o') ? arg.slice(2) : undefined;
    if (value === undefined) {
      flags.push(arg);
      continue;
    }
    const nv = splitNameValue(value);
    if (!('error' in nv)) options.push([nv.name, nv.value]);
  }
  return { options, flags, rest: args.slice(Math.min(i, args.length)) };
}

/** match_service_match() for master_service_disable ("inet", "smtp/inet", "!name/type"). */
export function serviceDisabled(patterns: string, name: string, type: string): boolean {
  const nameType = `${name}/${type}`.toLowerCase();
  for (let pattern of patterns.split(/[\s,]+/).filter(Boolean)) {
    let match = true;
    while (pattern.startsWith('!')) {
      match = !match;
      pattern = pattern.slice(1);
    }
    // Postfix 2.6..2.10 wrote "name.type".
    if (!pattern.includes('/') && pattern.includes('.')) pattern = pattern.replace(/\.([^.]*)$/, '/$1');
    const subject = pattern.includes('/') ? nameType : type.toLowerCase();
    if (subject === pattern.toLowerCase()) return match;
  }
  return false;
}

function chrootDefault(level: string): boolean {
  const parsed = parseCompatLevel(level, () => undefined);
  return parsed !== undefined && parsed[0] < 1;
}

/** Reads and interprets master.cf; the first bad entry is an error with master's wording. */
export async function readServices(settings: MasterSettings): Promise<ReadServices> {
  const path = `${settings.configDir}/master.cf`;
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (e) {
    return { ok: false, error: `open ${path}: ${errnoText(e as NodeJS.ErrnoException)}` };
  }
  const warnings: string[] = [];
  const defaults = { processLimit: settings.defaultProcessLimit, chroot: chrootDefault(settings.compatibilityLevel) };
  const byKey = new Map<string, ServiceSpec>();
  for (const line of readLogicalLines(text, path, (w) => warnings.push(w))) {
    const firstWords = line.text.trim().split(/\s+/);
    if (serviceDisabled(settings.masterServiceDisable, firstWords[0]!, firstWords[1] ?? '')) continue;
    const entry = parseDaemonEntry(line.text, defaults);
    if ('error' in entry) return { ok: false, error: `${path}: line ${line.firstLine}: ${entry.error}` };
    let endpoint: Endpoint | undefined;
    if (entry.type === 'inet') {
      if (settings.families.length === 0) continue;
      const ep = await inetEndpoint(entry.service, settings.bareAddresses, settings.families);
      if ('error' in ep) return { ok: false, error: `${path}: line ${line.firstLine}: ${ep.error}` };
      endpoint = ep;
    }
    const { options, flags, rest } = daemonOptions(entry.args);
    const socketPath = endpoint ? undefined : `${entry.private ? 'private' : 'public'}/${entry.service}`;
    // master's service name: the canonical address, or the path (a changed private flag is another service).
    const key = `${endpoint ? endpoint.canonical : socketPath}/${entry.type}`;
    const spec: ServiceSpec = { ext: entry.service, type: entry.type, key, entry, options, flags, args: rest, endpoint, path: socketPath, line: line.firstLine };
    const earlier = byKey.get(key);
    if (earlier) {
      warnings.push(`duplicate master.cf entry for service "${entry.service}" (${endpoint ? endpoint.canonical : entry.service}) -- using the last entry`);
      byKey.delete(key);
    }
    byKey.set(key, spec);
  }
  return { ok: true, services: [...byKey.values()], warnings };
}
