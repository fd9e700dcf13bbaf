import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// The lockstep web console. Vite 8 transforms TSX itself (oxc): no React plugin. Built into
// dist/ui, which `lockstep serve` serves at /ui (src/api/ui.ts); `npm run build:ui` builds it,
// and `npm ci` / `npm install` run that as the `prepare` script.
const root = fileURLToPath(new URL('.', import.meta.url));
const target = process.env.LOCKSTEP_URL ?? 'http://localhost:8080';

export default defineConfig({
  root,
  base: '/ui/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'react' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/ui', import.meta.url)),
    emptyOutDir: true,
    assetsDir: 'assets',
    sourcemap: false,
    chunkSizeWarningLimit: 1024,
  },
  // `npx vite --config ui/vite.config.ts`: the console with hot reload against a running serve
  server: { proxy: { '/api': target, '/auth': target, '/readyz': target, '/metrics': target } },
  logLevel: 'warn',
});
