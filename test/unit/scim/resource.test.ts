import { describe, expect, it } from 'vitest';
import { scimError } from '../../helpers/scim.js';
import { identityFromUser } from '../../../src/sources/scim/mapping.js';
import { parseProjection, project } from '../../../src/sources/scim/projection.js';
import { finalizeResource, parseResourceBody, type JsonObject } from '../../../src/sources/scim/resource.js';
import { groupResourceType, URN, userResourceType } from '../../../src/sources/scim/schemas.js';
import { identityInputSchema } from '../../../src/domain/identity.js';

const parseUser = (body: JsonObject) => finalizeResource(userResourceType, parseResourceBody(userResourceType, body));

describe('SCIM resource bodies', () => {
  it('keeps values as sent under the schema spelling of names, and drops what the schemas do not define', () => {
    const r = parseUser({
      schemas: [URN.user, URN.enterprise],
      USERNAME: 'Ada@Example.com',
      id: 'client-chosen',
      meta: { resourceType: 'User' },
      groups: [{ value: 'g1' }],
      password: 'hunter2',
      shoeSize: 42,
      phonenumbers: [{ value: '+44 20 7946 0000', TYPE: 'work' }],
      [URN.enterprise.toUpperCase()]: { costcenter: 4130, department: 'Ops', manager: { value: 'm', displayName: 'ignored' } },
    });
    expect(r).toEqual({
      userName: 'Ada@Example.com',
      active: true,
      phoneNumbers: [{ value: '+44 20 7946 0000', type: 'work' }],
      [URN.enterprise]: { costCenter: '4130', department: 'Ops', manager: { value: 'm' } },
    });
  });

  it('accepts the core-URN-qualified form of core attributes and ignores unknown schemas (Entra ADSCIM group schema)', () => {
    const g = parseResourceBody(groupResourceType, {
      schemas: [URN.group, 'http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group'],
      [`${URN.group}:displayName`]: 'Doors',
      'urn:example:other:1.0:Group:colour': 'red',
    });
    expect(g).toEqual({ displayName: 'Doors' });
  });

  it.each([
    [{ schemas: [URN.user] }, 'invalidValue'],
    [{ schemas: [URN.user], userName: '' }, 'invalidValue'],
    [{ userName: 'a' }, 'invalidSyntax'],
    [{ schemas: [URN.user], userName: 'a', active: 'yes' }, 'invalidValue'],
    [{ schemas: [URN.user], userName: 'a', externalId: '' }, 'invalidValue'],
    [{ schemas: [URN.user], userName: 'a', name: 'Ada' }, 'invalidValue'],
    [
      {
        schemas: [URN.user],
        userName: 'a',
        emails: [
          { value: 'a', primary: true },
          { value: 'b', primary: true },
        ],
      },
      'invalidValue',
    ],
    [{ schemas: [URN.user], userName: 'a', [URN.lockstep]: { leaveDate: 'next friday' } }, 'invalidValue'],
  ])('%j → 400 %s', (b, scimType) => {
    const e = scimError(() => parseUser(b));
    expect(e.httpStatus).toBe(400);
    expect(e.scimType).toBe(scimType);
  });
});

describe('SCIM user → identity', () => {
  it('maps core, enterprise and lockstep attributes onto identity fields and keeps the rest in attributes', () => {
    const resource = parseUser({
      schemas: [URN.user, URN.enterprise, URN.lockstep],
      externalId: 'E-1001',
      userName: 'ada@example.com',
      name: { givenName: 'Ada', familyName: 'Lovelace' },
      title: 'Shift Lead',
      userType: 'Employee',
      active: false,
      emails: [
        { value: 'ada@home.example', type: 'home' },
        { value: 'ada@example.com', type: 'work' },
      ],
      roles: [{ value: 'dc-tech', display: 'DC Technician', type: 'app', primary: true }],
      [URN.enterprise]: {
        department: 'DC Operations',
        costCenter: 'CC-7',
        employeeNumber: '1001',
        organization: 'Lockstep',
        division: 'North',
        manager: 'E-0007',
      },
      [URN.lockstep]: {
        employeeType: 'Contractor',
        site: 'FRA1',
        hireDate: '2024-03-01',
        leaveDate: '2025-02-28',
        contractEnd: '2025-02-28',
        sponsor: 'E-0007',
      },
    });
    resource.groups = [
      { value: 'g2', display: 'Security' },
      { value: 'g1', display: 'DC Operations' },
    ];
    const input = identityFromUser(resource, { source: 'scim', id: 'scim-id-1' });
    const parsed = identityInputSchema.parse(input);
    expect(parsed).toMatchObject({
      source: 'scim',
      externalId: 'E-1001',
      userName: 'ada@example.com',
      displayName: 'Ada Lovelace',
      active: false,
      employeeType: 'Contractor',
      department: 'DC Operations',
      jobTitle: 'Shift Lead',
      site: 'FRA1',
      manager: 'E-0007',
      sponsor: 'E-0007',
      email: 'ada@example.com',
      hireDate: '2024-03-01',
      leaveDate: '2025-02-28',
      contractEnd: '2025-02-28',
      groups: ['DC Operations', 'Security'],
      roles: [{ value: 'dc-tech', display: 'DC Technician', type: 'app', primary: true }],
    });
    expect(parsed.attributes).toMatchObject({
      scimId: 'scim-id-1',
      costCenter: 'CC-7',
      employeeNumber: '1001',
      organization: 'Lockstep',
      division: 'North',
      userType: 'Employee',
    });
  });

  it('keys the identity by the SCIM id when there is no externalId, and takes userType as employeeType', () => {
    const input = identityFromUser(parseUser({ schemas: [URN.user], userName: 'x', userType: 'Visitor' }), { source: 'scim', id: 'id-9' });
    expect(input.externalId).toBe('id-9');
    expect(input.employeeType).toBe('Visitor');
    expect(input.active).toBe(true);
  });
});

describe('SCIM attribute projection', () => {
  const full: JsonObject = {
    schemas: [URN.user, URN.enterprise],
    id: 'u1',
    userName: 'ada',
    name: { givenName: 'Ada', familyName: 'L' },
    emails: [{ value: 'a@x', type: 'work' }],
    [URN.enterprise]: { department: 'Ops', costCenter: 'C' },
    meta: { resourceType: 'User' },
  };

  it('returns only the asked-for attributes, plus id, with schemas describing what is there', () => {
    expect(project(userResourceType, full, parseProjection(userResourceType, 'userName,name.givenName,emails.value', undefined))).toEqual({
      schemas: [URN.user],
      id: 'u1',
      userName: 'ada',
      name: { givenName: 'Ada' },
      emails: [{ value: 'a@x' }],
    });
    expect(project(userResourceType, full, parseProjection(userResourceType, `${URN.enterprise}:department`, undefined))).toEqual({
      schemas: [URN.user, URN.enterprise],
      id: 'u1',
      [URN.enterprise]: { department: 'Ops' },
    });
  });

  it('leaves out excluded attributes but never id', () => {
    const p = project(userResourceType, full, parseProjection(userResourceType, undefined, `id,emails,name.familyName,${URN.enterprise}`));
    expect(p).toEqual({ schemas: [URN.user], id: 'u1', userName: 'ada', name: { givenName: 'Ada' }, meta: { resourceType: 'User' } });
  });
});
