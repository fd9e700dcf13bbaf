import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type Router } from 'express';

/**
 * Where `vite build` puts the console (ui/vite.config.ts: dist/ui): from src/api/ui.ts run by
 * tsx that is <repo>/dist/ui, from the compiled dist/src/api/ui.js it is <dist>/ui.
 */
export function defaultUiDir(): string {
  const up = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
  return basename(up) === 'dist' ? join(up, 'ui') : join(up, 'dist', 'ui');
}

const MISSING = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lockstep console: not built</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#1f2937}code{background:#f3f4f6;padding:.1rem .3rem;border-radius:4px}</style></head>
<body><h1>The lockstep console is not built</h1>
<p>This service serves the web console from <code>dist/ui</code>, and there is no build there.
<code>npm ci</code> (or <code>npm install</code>) builds it; to build it by hand run</p>
<pre><code>npm run build:ui</code></pre>
<p>and reload this page. The admin API at <code>/api/v1</code> works without it.</p></body></html>`;

/**
 * The console's static files: hashed assets (`/ui/assets/*`) are immutable and cached for a
 * year, index.html is never cached (it names the current assets), any other path under /ui is
 * the single-page app's own route and gets index.html. Without a build, a page that says how
 * to make one (503).
 */
export function createUiRouter(opts: { dir?: string } = {}): Router {
  const dir = resolve(opts.dir ?? defaultUiDir());
  const index = join(dir, 'index.html');
  const r = express.Router();
  // everything is bundled and same-origin: the browser may load and talk to nothing else
  r.use((_req, res, next) => {
    res.set({
      'Content-Security-Policy': "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'same-origin',
    });
    next();
  });
  r.use('/assets', express.static(join(dir, 'assets'), { immutable: true, maxAge: '365d', index: false, fallthrough: false, redirect: false }));
  r.use(express.static(dir, { index: false, redirect: false, maxAge: 0, setHeaders: (res) => res.setHeader('Cache-Control', 'no-cache') }));
  r.use(async (req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    const built = existsSync(index) && (await stat(index)).isFile();
    if (!built) {
      res.status(503).type('html').set('Cache-Control', 'no-store').send(MISSING);
      return;
    }
    // a file-like path that is not there (a stale asset name) is a 404, not the app
    if (/\.[a-z0-9]{1,8}$/i.test(req.path) && !req.path.endsWith('.html')) return next();
    res.set('Cache-Control', 'no-cache');
    res.sendFile(index, { dotfiles: 'deny' }, (err) => (err ? next(err) : undefined));
  });
  return r;
}
