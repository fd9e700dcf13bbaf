/**
 * `npm ci` stays quiet about install scripts: every installed dependency with one is approved or
 * denied in allowScripts (docs/operations.md, Install scripts). npm before 11 has no
 * allowScripts (nor `npm install-scripts`): nothing to check there.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const major = Number(execFileSync(npm, ['--version'], { encoding: 'utf8' }).split('.')[0]);
function hasInstallScripts(): boolean {
  if (major < 11) return false;
  try {
    execFileSync(npm, ['install-scripts', 'ls'], { cwd: ROOT, stdio: 'ignore' });
    return true;
  } catch {
    return false; // an npm 11 from before the command
  }
}
const hasCommand = hasInstallScripts();

describe.skipIf(!hasCommand)('install scripts', { timeout: 60_000 }, () => {
  const packages = [ROOT, join(ROOT, 'connectors/sailpoint-isc')].filter((d) => existsSync(join(d, 'node_modules')));

  it.each(packages)('every one installed in %s is reviewed in allowScripts', (dir) => {
    const out = execFileSync(npm, ['install-scripts', 'ls'], { cwd: dir, encoding: 'utf8' });
    expect(out.trim()).toBe('No packages with unreviewed install scripts.');
  });
});
