import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');

/** `lockstep dev-oidc`: the local provider a new user tries sign-in with (the tests start the same one in process). */
describe('lockstep dev-oidc', () => {
  it('serves discovery for the people it is given and prints the auth block for lockstep.yaml', async () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'src/cli.ts'), 'dev-oidc', '--port', '0', '--user', 'alice:Alice Approver:approver+auditor'],
      { cwd: ROOT },
    );
    try {
      let text = '';
      child.stdout.setEncoding('utf8');
      const printed = new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (d: string) => {
          text += d;
          if (text.includes('clientSecret:')) resolve(text);
        });
        child.once('exit', (code) => reject(new Error(`dev-oidc exited with ${code}: ${text}`)));
      });
      const out = await printed;
      const issuer = /dev OIDC provider at (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
      expect(issuer).toBeDefined();
      expect(out).toMatch(/alice\s+Alice Approver\s+approver, auditor/);
      expect(out).toContain(`oidc: { issuer: ${issuer}, clientId: lockstep-dev, clientSecret: lockstep-dev-secret }`);
      const discovery = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
      expect(discovery).toMatchObject({ issuer, authorization_endpoint: `${issuer}/authorize`, token_endpoint: `${issuer}/token` });
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  });

  it('refuses a person without a known role, naming the option', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli.ts'), 'dev-oidc', '--port', '0', '--user', 'bob:Bob:admin'], { cwd: ROOT });
    let err = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => (err += d));
    const [code] = (await once(child, 'exit')) as [number];
    expect(code).not.toBe(0);
    expect(err).toMatch(/--user bob:Bob:admin: give sub:Name:role/);
  });
});
