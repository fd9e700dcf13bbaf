import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import { LockstepError } from '../../../src/domain/errors.js';
import { apiAuth } from '../../../src/runtime/serve.js';

const yaml = (auth: string) => `mappings: ./mappings
systems:
  dc1: { type: simulator }
auth:
${auth}`;

const quiet = { warn: () => undefined };

function errorOf(text: string, env: NodeJS.ProcessEnv = {}): string {
  try {
    parseConfig(text, '/etc/lockstep/lockstep.yaml', env);
  } catch (e) {
    expect(e).toBeInstanceOf(LockstepError);
    return (e as LockstepError).message;
  }
  throw new Error('the configuration was accepted');
}

describe('auth in lockstep.yaml', () => {
  it('reads OIDC, the session and named tokens, with Entra defaults', () => {
    const c = parseConfig(
      yaml(`  publicUrl: https://lockstep.example.com
  oidc:
    issuer: https://login.microsoftonline.com/66666666-6666-4666-8666-666666666666/v2.0
    clientId: 77777777-7777-4777-8777-777777777777
    roleMap: { "Lockstep.Approver": approver, "4f1c2d9e-group": [auditor, viewer] }
  tokens:
    - { name: ci, tokenEnv: LOCKSTEP_CI_TOKEN, roles: [operator] }
`),
      '/etc/lockstep/lockstep.yaml',
      {},
    );
    expect(c.auth.oidc).toMatchObject({ scopes: ['openid', 'profile', 'email'], roleClaim: 'roles', groupsClaim: 'groups' });
    expect(c.auth.session.maxAgeMinutes).toBe(480);
    const a = apiAuth(
      c.auth,
      { LOCKSTEP_CI_TOKEN: 'ci-token-0123456789abcdef', LOCKSTEP_SESSION_SECRET: 's'.repeat(32), LOCKSTEP_OIDC_CLIENT_SECRET: 'shh' },
      quiet,
    );
    expect(a.tokens).toEqual([{ name: 'ci', token: 'ci-token-0123456789abcdef', roles: ['operator'] }]);
    expect(a.oidc).toMatchObject({
      clientSecret: 'shh',
      audience: ['77777777-7777-4777-8777-777777777777'],
      redirectUri: 'https://lockstep.example.com/auth/callback',
      roleMap: { 'Lockstep.Approver': ['approver'], '4f1c2d9e-group': ['auditor', 'viewer'] },
    });
    expect(a.secureCookies).toBe(true);
    expect(a.sessionMaxAgeSeconds).toBe(480 * 60);
  });

  it('uses the default role map, and generates a session secret (with a warning) when none is set', () => {
    const c = parseConfig(yaml(`  oidc: { issuer: "http://127.0.0.1:9999", clientId: lockstep }\n`), '/x/lockstep.yaml', {});
    const warnings: string[] = [];
    const a = apiAuth(c.auth, {}, { warn: (m) => warnings.push(m) });
    expect(a.oidc!.roleMap['Lockstep.Viewer']).toEqual(['viewer']);
    expect(a.oidc!.roleMap.auditor).toEqual(['auditor']);
    expect(a.oidc!.redirectUri).toBeUndefined();
    expect(a.sessionSecret!.length).toBeGreaterThanOrEqual(32);
    expect(warnings.join()).toMatch(/no session secret/);
    expect(a.secureCookies).toBe(false);
  });

  it('refuses what cannot work, naming the field', () => {
    expect(errorOf(yaml(`  tokens: [{ name: ci, roles: [operator] }]\n`))).toMatch(/auth\.tokens\[0\]\.token: give the token as token or as tokenEnv/s);
    expect(errorOf(yaml(`  tokens: [{ name: ci, token: short, roles: [operator] }]\n`))).toMatch(/at least 16 characters/);
    expect(errorOf(yaml(`  tokens: [{ name: ci, tokenEnv: X, roles: [admin] }]\n`))).toMatch(/auth\.tokens\[0\]\.roles\[0\]/);
    expect(errorOf(yaml(`  tokens: [{ name: ci, tokenEnv: X, roles: [] }]\n`))).toMatch(/at least one role/);
    expect(errorOf(yaml(`  tokens: [{ name: ci, tokenEnv: X, roles: [viewer] }, { name: ci, tokenEnv: Y, roles: [viewer] }]\n`))).toMatch(
      /token names must be unique/,
    );
    expect(errorOf(yaml(`  oidc: { issuer: "ftp://x", clientId: a }\n`))).toMatch(/auth\.oidc\.issuer/);
    expect(errorOf(yaml(`  session: { secret: too-short }\n`))).toMatch(/at least 32 characters/);
    const c = parseConfig(yaml(`  tokens: [{ name: ci, tokenEnv: LOCKSTEP_CI_TOKEN, roles: [operator] }]\n`), '/x/lockstep.yaml', {});
    expect(() => apiAuth(c.auth, {}, quiet)).toThrow(/auth\.tokens ci: the environment variable LOCKSTEP_CI_TOKEN is not set/);
    expect(() => apiAuth(c.auth, { LOCKSTEP_CI_TOKEN: 'short' }, quiet)).toThrow(/fewer than 16 characters/);
  });
});
