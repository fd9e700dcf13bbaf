/**
 * bench:jml's lockstep: the whole service (`serve`: SCIM, workers, schedulers) in a process
 * of its own, as `npm start` runs it, so the load generator's timers do not share its event
 * loop; or, with `workerOnly`, a `lockstep worker` process beside it (--worker-processes).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { serve, type RunningService } from '../../src/runtime/serve.js';
import { installCounters, takeCounters } from './jml-counters.js';
import { procStats, serveIpc } from './scim-ipc.js';

export type JmlServiceRequest =
  | { op: 'start'; configPath: string; env: Record<string, string>; workerOnly?: boolean }
  | { op: 'stats' }
  | { op: 'counters' }
  | { op: 'profile'; action: 'start' | 'stop'; dir?: string }
  | { op: 'close' };

if (process.env.BENCH_COUNT === '1') installCounters();

let svc: RunningService | null = null;
let profiler: Session | null = null;

/** A V8 CPU profile of just the measured phase (`--cpu-prof` would include the seeding). */
async function profile(action: 'start' | 'stop', dir = 'bench-profiles'): Promise<string | null> {
  if (action === 'start') {
    profiler = new Session();
    profiler.connect();
    await profiler.post('Profiler.enable');
    await profiler.post('Profiler.start');
    return null;
  }
  if (!profiler) return null;
  const { profile: p } = await profiler.post('Profiler.stop');
  profiler.disconnect();
  profiler = null;
  await mkdir(dir, { recursive: true });
  const file = join(dir, `jml-service-events-${Date.now()}.cpuprofile`);
  await writeFile(file, JSON.stringify(p));
  return file;
}

serveIpc<JmlServiceRequest>(
  async (req) => {
    switch (req.op) {
      case 'start': {
        svc = await serve({
          configPath: req.configPath,
          logLevel: req.env.LOG_LEVEL ?? 'warn',
          env: { ...process.env, ...req.env },
          workerOnly: req.workerOnly,
        });
        // serve prints http://localhost:port; the load generator must not try ::1 first
        return { url: svc.url?.replace('//localhost:', '//127.0.0.1:') ?? null };
      }
      case 'stats':
        return procStats();
      case 'counters':
        return takeCounters();
      case 'profile':
        return profile(req.action, req.dir);
      case 'close':
        return null;
    }
  },
  async () => {
    await svc?.close();
  },
);
