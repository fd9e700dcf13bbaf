import { describe, expect, it } from 'vitest';
import { entraSourceSchema, resolveAuthMethod } from '../../../src/sources/entra/config.js';
import { sourceSchema } from '../../../src/config/schema.js';

const base = { type: 'entra', tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47', clientId: '6731de76-14a6-49ae-97bc-6eba6914391e' };
const issues = (v: unknown) => entraSourceSchema.safeParse(v).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`) ?? [];

describe('entra source config', () => {
  it('fills in the defaults the README promises', () => {
    const c = entraSourceSchema.parse({ ...base, clientSecret: 's3cret' });
    expect(c).toMatchObject({
      graphBaseUrl: 'https://graph.microsoft.com/v1.0',
      externalIdFrom: 'employeeId',
      managerAs: 'id',
      intervalMs: 60_000,
      maxRemovalPercent: 20,
      scope: { transitive: false },
      appRoleApplications: [],
      http: { maxAttempts: 6 },
    });
    expect(resolveAuthMethod(c)).toBe('clientSecret');
    expect(resolveAuthMethod(entraSourceSchema.parse({ ...base, certificatePath: '/etc/lockstep/entra.pem' }))).toBe('certificate');
  });

  it('is one of the source kinds lockstep.yaml accepts', () => {
    expect(sourceSchema.safeParse({ ...base, clientSecret: 's3cret' }).success).toBe(true);
  });

  it('names the field that is missing or wrong', () => {
    expect(issues({ ...base })).toEqual(['auth: set clientSecret or certificatePath, or auth: managedIdentity | workloadIdentity | none']);
    expect(issues({ ...base, auth: 'clientSecret' })).toEqual(['clientSecret: auth clientSecret needs clientSecret']);
    expect(issues({ type: 'entra', tenantId: 't', certificatePath: '/x.pem' })).toEqual(["clientId: auth certificate needs the app registration's clientId"]);
    expect(issues({ ...base, clientSecret: 's', scope: { groupIds: ['not-a-guid'] } })).toEqual(['scope.groupIds.0: must be an object id (GUID)']);
    expect(issues({ ...base, clientSecret: 's', attributes: { department: 'userName' } })[0]).toMatch(/^attributes\.department: must be one of/);
    expect(issues({ ...base, clientSecret: 's', extensions: ['extension_costCenter'] })[0]).toMatch(/^extensions\.0: must look like/);
    expect(issues({ ...base, clientSecret: 's', groups: 'scope' })).toEqual(['groups: groups: scope needs scope.groupIds']);
    expect(issues({ ...base, clientSecret: 's', tenant: 'typo' })[0]).toMatch(/tenant/);
  });

  it('allows managed and workload identity without a secret', () => {
    expect(issues({ type: 'entra', tenantId: 't', auth: 'managedIdentity' })).toEqual([]);
    expect(issues({ type: 'entra', tenantId: 't', auth: 'workloadIdentity' })).toEqual([]);
  });

  it('sends no credentials only to a loopback Graph', () => {
    expect(issues({ type: 'entra', tenantId: 't', auth: 'none', graphBaseUrl: 'http://127.0.0.1:8999/v1.0' })).toEqual([]);
    expect(issues({ type: 'entra', tenantId: 't', auth: 'none' })).toEqual([
      'auth: auth none is only allowed with a loopback graphBaseUrl (a local fake Graph)',
    ]);
    expect(issues({ ...base, clientSecret: 's', authorityHost: 'http://login.example.com' })[0]).toMatch(/^authorityHost/);
  });
});
