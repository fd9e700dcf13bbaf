// Builds the web console into dist/ui (`npm run build:ui`; `npm ci` and `npm install` run it as
// the `prepare` script), or into the folder given as the first argument: the browser tests build
// their own, so a test run never empties the dist/ui that a running service or another run
// serves. Without vite (an install with --omit=dev) it says so and leaves the console unbuilt:
// `lockstep serve` then answers /ui with a page saying how to build it.
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// React's production build whatever the caller's NODE_ENV (vitest sets `test`, which vite
// would otherwise pass on to React and ship its development build)
process.env.NODE_ENV = 'production';
const config = fileURLToPath(new URL('./vite.config.ts', import.meta.url));
let vite;
try {
  vite = await import('vite');
} catch {
  console.warn('lockstep: vite is not installed (a production-only install?), so the web console is not built; `npm install` and `npm run build:ui` build it.');
  process.exit(0);
}
const started = Date.now();
const out = process.argv[2];
await vite.build({ configFile: config, mode: 'production', logLevel: 'warn', ...(out ? { build: { outDir: resolve(out), emptyOutDir: true } } : {}) });
console.log(`lockstep: web console built into ${out ?? 'dist/ui'} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
