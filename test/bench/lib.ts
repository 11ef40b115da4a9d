// What several benchmarks measure the same way: medians, the processes
// under a daemon's master (from /proc), their summed memory (PSS) and CPU.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { namespaceReady, runInNamespace, whyNoNamespace } from '../lib/netns.js';

/** Clock ticks per second of /proc/PID/stat's CPU fields. */
let clkTck = 0;
function ticksPerSecond(): number {
  return (clkTck ||= Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100);
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

interface ProcStat {
  ppid: number;
  /** utime + stime, in ticks. */
  own: number;
  /** cutime + cstime (children already reaped), in ticks. */
  reaped: number;
}

/** Every process now running, from /proc/PID/stat. */
function procStats(): Map<number, ProcStat> {
  const stats = new Map<number, ProcStat>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const text = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
      stats.set(Number(name), { ppid: Number(f[1]), own: Number(f[11]) + Number(f[12]), reaped: Number(f[13]) + Number(f[14]) });
    } catch {
      // gone meanwhile
    }
  }
  return stats;
}

/** The process `root` and every process below it. */
export function processTree(root: number, stats: Map<number, ProcStat> = procStats()): number[] {
  const out = [root];
  for (let i = 0; i < out.length; i++) for (const [pid, st] of stats) if (st.ppid === out[i]) out.push(pid);
  return out;
}

/** Summed PSS (/proc/PID/smaps_rollup) of a process tree in KiB, and how many processes. */
export function treePss(root: number): { kb: number; processes: number } {
  let kb = 0;
  const pids = processTree(root);
  for (const pid of pids) {
    try {
      const m = /^Pss:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
      if (m) kb += Number(m[1]);
    } catch {
      // gone meanwhile
    }
  }
  return { kb, processes: pids.length };
}

/** CPU seconds (user + system) used so far by a process tree, reaped children included. */
export function treeCpuSeconds(root: number): number {
  const stats = procStats();
  let ticks = 0;
  for (const pid of processTree(root, stats)) {
    const st = stats.get(pid);
    if (st) ticks += st.own + st.reaped;
  }
  return ticks / ticksPerSecond();
}

/**
 * A benchmark that must run in the private network namespace: the `run`
 * it exports. Outside the namespace it runs its own file again inside one
 * (`self --inner`, which calls `inner` and sets the exit status).
 */
export function inNamespace(self: string, inner: () => Promise<void>): () => Promise<void> {
  if (process.argv[1] === self && process.argv[2] === '--inner') {
    inner().catch((e: unknown) => {
      console.error((e as Error).message);
      process.exitCode = 1;
    });
  }
  return async () => {
    if (namespaceReady()) return inner();
    const why = whyNoNamespace();
    if (why) throw new Error(why);
    const r = await runInNamespace([process.execPath, self, '--inner'], { echo: true });
    if (r.status !== 0) throw new Error(`benchmark exited with status ${r.status}`);
  };
}

/** Per program of a process tree: how many processes, CPU seconds used so far (reaped children included), PSS now in KiB. */
export type TreeProfile = Map<string, { processes: number; cpu: number; pssKb: number }>;

/** The process tree under root by program name (the first word of each command line: "smtpd", "local", "master"). */
export function treeProfile(root: number): TreeProfile {
  const stats = procStats();
  const out: TreeProfile = new Map();
  for (const pid of processTree(root, stats)) {
    try {
      const argv0 = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split(/[\0 ]/)[0] ?? '';
      const name = argv0.slice(argv0.lastIndexOf('/') + 1) || '?';
      const m = /^Pss:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
      const st = stats.get(pid)!;
      const e = out.get(name) ?? { processes: 0, cpu: 0, pssKb: 0 };
      e.processes++;
      e.cpu += (st.own + st.reaped) / ticksPerSecond();
      e.pssKb += m ? Number(m[1]) : 0;
      out.set(name, e);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** One line per program: processes, CPU used between two profiles, PSS in the second. */
export function formatProfile(before: TreeProfile, after: TreeProfile): string {
  return [...after]
    .sort((a, b) => b[1].cpu - a[1].cpu)
    .map(([name, e]) => `${name}×${e.processes} ${(e.cpu - (before.get(name)?.cpu ?? 0)).toFixed(2)}s CPU ${(e.pssKb / 1024).toFixed(1)} MiB`)
    .join(', ');
}
