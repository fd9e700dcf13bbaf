/**
 * The image as `docker compose up` uses it (scripts/image-rehearsal.ts): built from the
 * Dockerfile (by a container engine where one runs, else rehearsed instruction by instruction
 * on this machine), started as its non-root user, answering /healthz, the console at /ui/ and a
 * SCIM POST. It runs npm ci and the build, so it takes about a minute.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseDockerfile } from '../../scripts/image-rehearsal.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');

describe('the container image', () => {
  it('runs on Node 22 LTS or newer in every stage, as a user that is not root', () => {
    const ins = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
    const froms = ins.filter((i) => i.op === 'FROM').map((i) => Number(/^node:(\d+)/.exec(i.args)?.[1] ?? 0));
    expect(froms.length).toBeGreaterThan(0);
    for (const major of froms) expect(major).toBeGreaterThanOrEqual(22);
    const users = ins.filter((i) => i.op === 'USER').map((i) => i.args);
    expect(users.at(-1)).toBeDefined();
    expect(users.at(-1)).not.toMatch(/^(root|0)(:|$)/);
  });

  it('builds from the Dockerfile and serves /healthz, /ui/ and SCIM as its non-root user', { timeout: 240_000 }, async () => {
    const r = await run(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/image-rehearsal.ts')], {
      cwd: ROOT,
      timeout: 230_000,
      maxBuffer: 16 * 1024 * 1024,
    }).catch((e: { code: number; stdout: string; stderr: string }) => e);
    expect(r.stderr, r.stderr).not.toContain('FAILED');
    expect(r.stdout).toMatch(/^image rehearsal: ok \(.*\/healthz 200, \/ui\/ 200, SCIM POST 201, audit verify beside serve 0, uid (?!0\b)\d+, SIGTERM exit 0/m);
  });
});
