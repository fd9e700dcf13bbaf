import { describe, expect, it } from 'vitest';
import { scimError } from '../../helpers/scim.js';
import { applyPatch, parsePatchBody } from '../../../src/sources/scim/patch.js';
import { finalizeResource, type JsonObject } from '../../../src/sources/scim/resource.js';
import { groupResourceType, URN, userResourceType } from '../../../src/sources/scim/schemas.js';

const ENT = URN.enterprise;

const user = (): JsonObject => ({
  userName: 'bjensen@example.com',
  externalId: 'bjensen',
  active: true,
  name: { givenName: 'Barbara', familyName: 'Jensen', formatted: 'Ms. Barbara J Jensen' },
  emails: [
    { value: 'bjensen@example.com', type: 'work', primary: true },
    { value: 'babs@jensen.org', type: 'home' },
  ],
  [ENT]: { department: 'Tour Operations', manager: { value: 'm-1' } },
});

const body = (Operations: unknown[]) => ({ schemas: [URN.patchOp], Operations });
const patchUser = (r: JsonObject, ops: unknown[]) => finalizeResource(userResourceType, applyPatch(userResourceType, r, parsePatchBody(body(ops))));

describe('SCIM PATCH envelope', () => {
  it('accepts op names in any case and an empty Operations list', () => {
    const ops = parsePatchBody(
      body([
        { op: 'Add', path: 'title', value: 'x' },
        { op: 'REPLACE', path: 'title', value: 'y' },
        { op: 'Remove', path: 'title' },
      ]),
    );
    expect(ops.map((o) => o.op)).toEqual(['add', 'replace', 'remove']);
    expect(parsePatchBody(body([]))).toEqual([]);
  });

  it('refuses a missing PatchOp schema, a non-array Operations and unknown ops with invalidSyntax', () => {
    for (const b of [{ Operations: [] }, { schemas: [URN.patchOp], Operations: {} }, body([{ op: 'move', path: 'title' }])]) {
      const e = scimError(() => parsePatchBody(b));
      expect(e.scimType).toBe('invalidSyntax');
    }
  });
});

describe('SCIM PATCH on users', () => {
  it('replaces a filtered multi-valued sub-attribute and a complex sub-attribute (Entra "Update User [Multi-valued properties]")', () => {
    const r = patchUser(user(), [
      { op: 'Replace', path: 'emails[type eq "work"].value', value: 'updatedEmail@microsoft.com' },
      { op: 'Replace', path: 'name.familyName', value: 'updatedFamilyName' },
    ]);
    expect(r.emails).toEqual([
      { value: 'updatedEmail@microsoft.com', type: 'work', primary: true },
      { value: 'babs@jensen.org', type: 'home' },
    ]);
    expect(r.name).toEqual({ givenName: 'Barbara', familyName: 'updatedFamilyName', formatted: 'Ms. Barbara J Jensen' });
  });

  it('creates the value a filtered replace names when there is none (Entra sets emails[type eq "work"].value on users without one)', () => {
    const r = patchUser({ userName: 'x' }, [{ op: 'replace', path: 'emails[type eq "work"].value', value: 'x@example.com' }]);
    expect(r.emails).toEqual([{ type: 'work', value: 'x@example.com' }]);
  });

  it('takes Entra\'s "False" string as a boolean (default behaviour without aadOptscim062020)', () => {
    expect(patchUser(user(), [{ op: 'Replace', path: 'active', value: 'False' }]).active).toBe(false);
    expect(patchUser(user(), [{ op: 'replace', value: { active: 'false' } }]).active).toBe(false);
  });

  it('applies a no-path replace with dotted and URN-qualified keys (aadOptscim062020)', () => {
    const r = patchUser(user(), [
      {
        op: 'replace',
        value: {
          displayName: 'Bjfe',
          'name.givenName': 'Kkom',
          'name.familyName': 'Unua',
          [`${ENT}:employeeNumber`]: 'Aklq',
          [`${ENT}:manager`]: 'm-2',
        },
      },
    ]);
    expect(r.displayName).toBe('Bjfe');
    expect(r.name).toEqual({ givenName: 'Kkom', familyName: 'Unua', formatted: 'Ms. Barbara J Jensen' });
    expect(r[ENT]).toEqual({ department: 'Tour Operations', employeeNumber: 'Aklq', manager: { value: 'm-2' } });
  });

  it('merges a complex value given without path instead of dropping the sub-attributes it does not name', () => {
    const r = patchUser(user(), [{ op: 'replace', value: { name: { givenName: 'Babs' } } }]);
    expect(r.name).toEqual({ givenName: 'Babs', familyName: 'Jensen', formatted: 'Ms. Barbara J Jensen' });
  });

  it('takes an extension URN key holding an object, in any case', () => {
    const r = patchUser(user(), [{ op: 'add', value: { [ENT.toLowerCase()]: { Division: 'North', MANAGER: { value: 'm-3' } } } }]);
    expect(r[ENT]).toEqual({ department: 'Tour Operations', division: 'North', manager: { value: 'm-3' } });
  });

  it('sets the manager from a bare id and removes it by path', () => {
    const set = patchUser(user(), [{ op: 'Add', path: `${ENT}:manager`, value: 'boss-7' }]);
    expect((set[ENT] as JsonObject).manager).toEqual({ value: 'boss-7' });
    const removed = patchUser(user(), [{ op: 'Remove', path: `${ENT}:manager` }]);
    expect((removed[ENT] as JsonObject).manager).toBeUndefined();
  });

  it('adds multi-valued values without duplicating and makes a new primary the only one', () => {
    const r = patchUser(user(), [
      {
        op: 'add',
        path: 'emails',
        value: [
          { value: 'BJENSEN@example.com', type: 'work' },
          { value: 'new@example.com', type: 'other', primary: true },
        ],
      },
    ]);
    expect(r.emails).toEqual([
      { value: 'bjensen@example.com', type: 'work', primary: false },
      { value: 'babs@jensen.org', type: 'home' },
      { value: 'new@example.com', type: 'other', primary: true },
    ]);
  });

  it('removes filtered values and whole attributes; removing a required attribute is invalidValue', () => {
    const r = patchUser(user(), [
      { op: 'remove', path: 'emails[type eq "home"]' },
      { op: 'remove', path: 'name.formatted' },
    ]);
    expect(r.emails).toEqual([{ value: 'bjensen@example.com', type: 'work', primary: true }]);
    expect(r.name).toEqual({ givenName: 'Barbara', familyName: 'Jensen' });
    expect(scimError(() => patchUser(user(), [{ op: 'remove', path: 'userName' }])).scimType).toBe('invalidValue');
  });

  it('resolves path names case-insensitively (Entra maps emails[type eq "other"].Value)', () => {
    const r = patchUser(user(), [{ op: 'add', path: 'EMAILS[TYPE eq "home"].Value', value: 'b@jensen.org' }]);
    expect((r.emails as JsonObject[])[1]).toEqual({ value: 'b@jensen.org', type: 'home' });
  });

  it('maps roles[primary eq "True"].value (Entra app roles) to a primary role', () => {
    const r = patchUser(user(), [{ op: 'Add', path: 'roles[primary eq "True"].value', value: 'DC-Admin' }]);
    expect(r.roles).toEqual([{ primary: true, value: 'DC-Admin' }]);
  });

  it.each([
    [{ op: 'remove' }, 'noTarget'],
    [{ op: 'replace', path: 'shoeSize', value: 1 }, 'invalidPath'],
    [{ op: 'replace', path: 'name.nickname', value: 'x' }, 'invalidPath'],
    [{ op: 'replace', path: `${ENT}:shoeSize`, value: 1 }, 'invalidPath'],
    [{ op: 'replace', path: 'urn:example:unknown:2.0:User:x', value: 1 }, 'invalidPath'],
    [{ op: 'replace', path: 'emails[type eq "work"', value: 'x' }, 'invalidPath'],
    [{ op: 'replace', path: 'id', value: 'x' }, 'mutability'],
    [{ op: 'replace', path: 'meta.created', value: '2020-01-01T00:00:00Z' }, 'mutability'],
    [{ op: 'add', path: 'groups', value: [{ value: 'g' }] }, 'mutability'],
    [{ op: 'replace', path: 'emails[type co "w"].display', value: 'x' }, 'noTarget'],
    [{ op: 'replace', path: 'emails[type eq "pager"]', value: { value: 'x' } }, undefined],
    [{ op: 'replace', path: 'active', value: 'maybe' }, 'invalidValue'],
    [{ op: 'add', path: 'title' }, 'invalidValue'],
  ])('%j → %s', (op, scimType) => {
    if (scimType === undefined) {
      expect(() => patchUser(user(), [op])).not.toThrow();
      return;
    }
    const e = scimError(() => patchUser({ userName: 'x', emails: [{ value: 'a', type: 'home' }] }, [op]));
    expect(e.httpStatus).toBe(400);
    expect(e.scimType).toBe(scimType);
  });

  it('does not touch the resource it was given', () => {
    const r = user();
    const before = JSON.stringify(r);
    patchUser(r, [
      { op: 'replace', path: 'name.givenName', value: 'x' },
      { op: 'remove', path: 'emails' },
    ]);
    expect(JSON.stringify(r)).toBe(before);
  });

  it('ignores unknown and read-only keys in a no-path value, as POST does', () => {
    const r = patchUser(user(), [{ op: 'replace', value: { id: 'x', meta: {}, shoeSize: 44, title: 'Boss' } }]);
    expect(r.title).toBe('Boss');
    expect(r.shoeSize).toBeUndefined();
    expect(r.id).toBeUndefined();
  });
});

describe('SCIM PATCH on group members', () => {
  const group = (): JsonObject => ({ displayName: 'DC Ops', members: [{ value: 'u1' }, { value: 'u2' }, { value: 'u3' }] });
  const patchGroup = (ops: unknown[]) => applyPatch(groupResourceType, group(), parsePatchBody(body(ops)));

  it('adds members by value array, skipping ones already there (Entra "Add Members")', () => {
    const r = patchGroup([
      {
        op: 'Add',
        path: 'members',
        value: [
          { $ref: null, value: 'u4' },
          { value: 'u1', type: 'User' },
        ],
      },
    ]);
    expect(r.members).toEqual([{ value: 'u1', type: 'User' }, { value: 'u2' }, { value: 'u3' }, { value: 'u4' }]);
  });

  it('removes members listed in value (Entra default) and by members[value eq] (aadOptscim062020)', () => {
    const legacy = patchGroup([{ op: 'Remove', path: 'members', value: [{ $ref: null, value: 'u2' }] }]);
    expect(legacy.members).toEqual([{ value: 'u1' }, { value: 'u3' }]);
    const compliant = patchGroup([{ op: 'remove', path: 'members[value eq "u3"]' }]);
    expect(compliant.members).toEqual([{ value: 'u1' }, { value: 'u2' }]);
    expect(patchGroup([{ op: 'remove', path: 'members' }]).members).toBeUndefined();
  });

  it('replaces the whole member list and the displayName', () => {
    const r = patchGroup([
      { op: 'replace', path: 'members', value: [{ value: 'u9' }] },
      { op: 'Replace', path: 'displayName', value: 'DC Operations' },
    ]);
    expect(r).toEqual({ displayName: 'DC Operations', members: [{ value: 'u9' }] });
  });

  it('refuses to change a member value in place (immutable)', () => {
    expect(scimError(() => patchGroup([{ op: 'replace', path: 'members[value eq "u1"].value', value: 'u5' }])).scimType).toBe('mutability');
  });
});
