import { describe, expect, it } from 'vitest';
import { entraSourceSchema } from '../../../src/sources/entra/config.js';
import { compileUserMapping, managerIdOf, mapUser, type GraphUser } from '../../../src/sources/entra/mapping.js';

const cfg = (extra: Record<string, unknown> = {}) => entraSourceSchema.parse({ type: 'entra', tenantId: 't', clientId: 'c', clientSecret: 's', ...extra });
const ctx = { source: 'entra', manager: undefined, groups: [], roles: [] };

const adele: GraphUser = {
  id: '87d349ed-44d7-43e1-9a83-5f2406dee5bd',
  userPrincipalName: 'AdeleV@contoso.onmicrosoft.com',
  accountEnabled: true,
  displayName: 'Adele Vance',
  mail: 'AdeleV@contoso.onmicrosoft.com',
  jobTitle: 'Retail Manager',
  officeLocation: '18/2111',
  department: 'Retail',
  employeeId: '1234',
  employeeType: 'Contractor',
  companyName: 'Contoso',
  employeeHireDate: '2020-01-15T00:00:00Z',
  onPremisesExtensionAttributes: { extensionAttribute1: 'B12', extensionAttribute2: null, extensionAttribute15: 'night-shift' },
  extension_b7d8e648520f41d3b9c0fdeb91768a0a_costCenter: 'CC-42',
  employeeOrgData: { division: 'EMEA', costCenter: 'CC-9' },
};

describe('Entra user mapping', () => {
  it('selects exactly what the mapping reads, the manager and the key', () => {
    const m = compileUserMapping(cfg({ extensions: ['extension_b7d8e648520f41d3b9c0fdeb91768a0a_costCenter'] }));
    expect(m.select).toEqual(
      expect.arrayContaining([
        'id',
        'userPrincipalName',
        'accountEnabled',
        'manager',
        'employeeId',
        'employeeLeaveDateTime',
        'onPremisesExtensionAttributes',
        'extension_b7d8e648520f41d3b9c0fdeb91768a0a_costCenter',
      ]),
    );
    expect(m.select).not.toContain('employeeOrgData');
    expect(compileUserMapping(cfg({ attributes: { 'employeeOrgData.costCenter': 'attributes.costCenter' } })).select).toContain('employeeOrgData');
  });

  it('maps a user with the default mapping', () => {
    const { input, dropped } = mapUser(adele, compileUserMapping(cfg({ extensions: ['extension_b7d8e648520f41d3b9c0fdeb91768a0a_costCenter'] })), {
      ...ctx,
      manager: 'm-1',
      groups: ['DC Ops'],
    });
    expect(dropped).toEqual([]);
    expect(input).toEqual({
      source: 'entra',
      externalId: '1234',
      userName: 'AdeleV@contoso.onmicrosoft.com',
      active: true,
      displayName: 'Adele Vance',
      email: 'AdeleV@contoso.onmicrosoft.com',
      jobTitle: 'Retail Manager',
      site: '18/2111',
      department: 'Retail',
      employeeType: 'Contractor',
      hireDate: '2020-01-15T00:00:00Z',
      manager: 'm-1',
      groups: ['DC Ops'],
      roles: [],
      attributes: {
        companyName: 'Contoso',
        employeeId: '1234',
        extensionAttribute1: 'B12',
        extensionAttribute15: 'night-shift',
        costCenter: 'CC-42',
        entraObjectId: adele.id,
      },
    });
  });

  it('takes the key from the configured property, the object id when it is empty', () => {
    expect(mapUser(adele, compileUserMapping(cfg({ externalIdFrom: 'userPrincipalName' })), ctx).input.externalId).toBe('AdeleV@contoso.onmicrosoft.com');
    expect(mapUser({ ...adele, employeeId: null }, compileUserMapping(cfg()), ctx).input.externalId).toBe(adele.id);
    expect(mapUser({ ...adele, onPremisesImmutableId: '  ' }, compileUserMapping(cfg({ externalIdFrom: 'onPremisesImmutableId' })), ctx).input.externalId).toBe(
      adele.id,
    );
    expect(mapUser(adele, compileUserMapping(cfg({ externalIdFrom: 'id' })), ctx).input.externalId).toBe(adele.id);
  });

  it('applies configured mappings over the defaults, and null drops one', () => {
    const m = compileUserMapping(
      cfg({ attributes: { officeLocation: 'attributes.room', 'employeeOrgData.division': 'attributes.division', companyName: null, department: 'site' } }),
    );
    const { input } = mapUser(adele, m, ctx);
    expect(input.site).toBe('Retail');
    expect(input.attributes).toMatchObject({ room: '18/2111', division: 'EMEA' });
    expect(input.attributes).not.toHaveProperty('companyName');
  });

  it('drops a value the identity refuses instead of failing the user', () => {
    const { input, dropped } = mapUser({ ...adele, accountEnabled: false, employeeHireDate: 'last tuesday' }, compileUserMapping(cfg()), ctx);
    expect(input.active).toBe(false);
    expect(input).not.toHaveProperty('hireDate');
    expect(dropped).toEqual([{ field: 'hireDate', message: expect.stringContaining('ISO 8601') }]);
  });

  it('reads the manager from manager@delta or an expanded manager', () => {
    expect(managerIdOf({ id: 'u', 'manager@delta': [{ '@odata.type': '#microsoft.graph.user', id: 'm1' }] })).toBe('m1');
    expect(managerIdOf({ id: 'u', 'manager@delta': [{ id: 'm1', '@removed': { reason: 'deleted' } }] })).toBeNull();
    expect(managerIdOf({ id: 'u', manager: { id: 'm2', userPrincipalName: 'm2@x' } })).toBe('m2');
    expect(managerIdOf({ id: 'u', manager: null })).toBeNull();
    expect(managerIdOf({ id: 'u' })).toBeUndefined();
  });
});
