/**
 * Where the machine's CPU went during a measured phase, by process group (Linux /proc):
 * lockstep's service, PostgreSQL, Redis, the simulator, the load generator, and everything
 * else. On 2 cores the service shares the CPU with its own stores; "everything else" shows
 * how much other work ran on the machine at the same time.
 */
import { readdirSync, readFileSync } from 'node:fs';

const TICK_MS = 10; // USER_HZ is 100 on every Linux this runs on

function procCpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields after the command (which may contain spaces) start after the last ')'
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * TICK_MS;
  } catch {
    return null;
  }
}

/** Processes by their command name, with their command line (PostgreSQL backends show their database there). */
function processesNamed(comm: string): Array<{ pid: number; cmdline: string }> {
  const out: Array<{ pid: number; cmdline: string }> = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/comm`, 'utf8').trim() !== comm) continue;
      out.push({ pid: Number(d), cmdline: readFileSync(`/proc/${d}/cmdline`, 'utf8').replace(/\0/g, ' ') });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function machineBusyMs(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = line;
  return (user + nice + system + irq + softirq + steal) * TICK_MS;
}

/** Which group a process belongs to, or null for "other". */
function groupsNow(pids: Record<string, number>, database: string | undefined): Map<number, string> {
  const out = new Map<number, string>();
  for (const [name, pid] of Object.entries(pids)) out.set(pid, name);
  for (const p of processesNamed('postgres')) {
    // a backend names its client: `postgres: 15/main: user db 127.0.0.1(50948) idle`
    const backend = /\s(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-f:]+\]|\[local\])(\(\d+\))?\s/.test(p.cmdline);
    if (database && p.cmdline.includes(` ${database} `)) out.set(p.pid, 'postgres');
    else if (!backend) out.set(p.pid, 'postgres (background)');
  }
  for (const p of processesNamed('redis-server')) out.set(p.pid, 'redis (shared)');
  return out;
}

export interface CpuUse {
  wallMs: number;
  /** Busy CPU time of the whole machine (all cores), ms. */
  machineMs: number;
  /** CPU ms by group, `other` being the rest of the machine. */
  groups: Record<string, number>;
}

/**
 * Samples once a second from start() to stop(): PostgreSQL backends come and go with the
 * connection pools, and a process that exits takes its CPU time with it, so a sample taken
 * only at both ends would miss theirs. `pids` names the bench's own processes, `database`
 * the bench's PostgreSQL database (its backends are `postgres`; the server's background
 * processes, shared with anything else on it, are `postgres (background)`; other databases'
 * backends fall into `other`). Redis is one server for everyone: `redis (shared)`.
 */
export class CpuMeter {
  private first = new Map<number, number>();
  private last = new Map<number, { group: string; ms: number }>();
  private machine0 = 0;
  private t0 = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly ok: boolean;

  constructor(
    private readonly pids: Record<string, number>,
    private readonly database?: string,
  ) {
    let ok = true;
    try {
      machineBusyMs();
    } catch {
      ok = false;
    }
    this.ok = ok;
  }

  private sample(initial: boolean): void {
    for (const [pid, group] of groupsNow(this.pids, this.database)) {
      const ms = procCpuMs(pid);
      if (ms === null) continue;
      // a process first seen after the start began within the phase: all of its time counts
      if (initial) this.first.set(pid, ms);
      else if (!this.first.has(pid)) this.first.set(pid, 0);
      this.last.set(pid, { group, ms });
    }
  }

  start(): void {
    if (!this.ok) return;
    this.machine0 = machineBusyMs();
    this.t0 = Date.now();
    this.sample(true);
    this.timer = setInterval(() => this.sample(false), 1000);
    this.timer.unref();
  }

  /** Null where /proc is not there (not Linux). */
  stop(): CpuUse | null {
    if (!this.ok || this.timer === null) return null;
    clearInterval(this.timer);
    this.timer = null;
    this.sample(false);
    const machineMs = machineBusyMs() - this.machine0;
    const groups: Record<string, number> = {};
    let known = 0;
    for (const [pid, { group, ms }] of this.last) {
      const d = Math.max(0, ms - (this.first.get(pid) ?? 0));
      groups[group] = (groups[group] ?? 0) + d;
      known += d;
    }
    groups.other = Math.max(0, machineMs - known);
    return { wallMs: Date.now() - this.t0, machineMs, groups };
  }
}
