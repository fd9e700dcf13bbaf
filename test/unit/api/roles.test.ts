import { describe, expect, it } from 'vitest';
import { DEFAULT_ROLE_MAP, rolesFromClaims } from '../../../src/api/oidc.js';
import { oidcActor } from '../../../src/api/auth.js';
import { actorPrincipal } from '../../../src/reconcile/run.js';

const map = { roleClaim: 'roles', groupsClaim: 'groups', roleMap: DEFAULT_ROLE_MAP };

describe('roles from token claims', () => {
  it('maps app roles and group ids through the role map, in a fixed order, once each', () => {
    expect(rolesFromClaims({ roles: ['Lockstep.Auditor', 'Lockstep.Viewer', 'viewer'] }, map)).toEqual(['viewer', 'auditor']);
    expect(rolesFromClaims({ roles: 'Lockstep.Approver' }, map)).toEqual(['approver']);
    expect(rolesFromClaims({ groups: ['g-1'] }, { ...map, roleMap: { 'g-1': ['operator', 'approver'] } })).toEqual(['operator', 'approver']);
  });

  it('gives nothing for values the map does not name, inherited keys, or claims of the wrong type', () => {
    expect(rolesFromClaims({ roles: ['Admin', 'constructor', '__proto__', 'toString'] }, map)).toEqual([]);
    expect(rolesFromClaims({ roles: 7, groups: { viewer: true } }, map)).toEqual([]);
    expect(rolesFromClaims({}, map)).toEqual([]);
  });
});

describe('actors and the person behind them (four-eyes)', () => {
  it('names an OIDC caller by name, else email, else sub, and keeps the sub', () => {
    expect(oidcActor('abc', 'Ada Lovelace', 'ada@example.com')).toBe('oidc:Ada Lovelace (abc)');
    expect(oidcActor('abc', null, 'ada@example.com')).toBe('oidc:ada@example.com (abc)');
    expect(oidcActor('abc', null, null)).toBe('oidc:abc (abc)');
  });

  it('is the same person after a rename, and tokens and CLI users are who they say', () => {
    expect(actorPrincipal('oidc:Ada Lovelace (abc)')).toBe(actorPrincipal('oidc:Ada King (abc)'));
    expect(actorPrincipal('oidc:Ada (Research) (abc)')).toBe('oidc:abc');
    expect(actorPrincipal('oidc:Ada (abc)')).not.toBe(actorPrincipal('oidc:Ada (abd)'));
    expect(actorPrincipal('token:ci')).toBe('token:ci');
    expect(actorPrincipal('cli:alice')).toBe('cli:alice');
  });
});
