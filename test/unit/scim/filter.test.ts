import { describe, expect, it } from 'vitest';
import { scimError } from '../../helpers/scim.js';
import {
  compileFilter,
  matches,
  rewriteValuePathSubAttributes,
  SqlParams,
  toSqlExact,
  toSqlPrefilter,
  type SqlTarget,
} from '../../../src/sources/scim/filter.js';
import { groupResourceType, URN, userResourceType } from '../../../src/sources/scim/schemas.js';
import type { JsonObject } from '../../../src/sources/scim/resource.js';

const ada: JsonObject = {
  schemas: [URN.user, URN.enterprise],
  id: '2819c223-7f76-453a-919d-413861904646',
  externalId: 'Ada-01',
  userName: 'Ada.Lovelace@example.com',
  displayName: 'Ada Lovelace',
  nickName: '',
  title: 'Engineer',
  active: true,
  name: { givenName: 'Ada', familyName: 'Lovelace' },
  emails: [
    { value: 'ada@work.example.com', type: 'work', primary: true },
    { value: 'ada@home.example.com', type: 'home' },
  ],
  [URN.enterprise]: { department: 'DC Operations', employeeNumber: '701984', manager: { value: 'm-1' } },
  meta: { resourceType: 'User', created: '2024-03-01T08:00:00.000Z', lastModified: '2024-05-01T08:00:00.000Z', version: 'W/"3"' },
};

const test = (filter: string, r: JsonObject = ada) => matches(r, compileFilter(userResourceType, filter).root);

describe('SCIM filter evaluation', () => {
  it.each([
    ['userName eq "ada.lovelace@EXAMPLE.com"', true],
    ['userName ne "ada.lovelace@example.com"', false],
    ['userName co "LOVELACE"', true],
    ['userName sw "ada."', true],
    ['userName ew "@example.com"', true],
    ['userName gt "A"', true],
    ['userName lt "A"', false],
    ['userName ge "ada.lovelace@example.com"', true],
    ['userName le "ada.lovelace@example.com"', true],
    ['title pr', true],
    ['nickName pr', false],
    ['locale pr', false],
  ])('%s → %s', (f, expected) => {
    expect(test(f)).toBe(expected);
  });

  it('compares caseExact attributes (externalId, id) case-sensitively', () => {
    expect(test('externalId eq "Ada-01"')).toBe(true);
    expect(test('externalId eq "ada-01"')).toBe(false);
    expect(test('id eq "2819C223-7F76-453A-919D-413861904646"')).toBe(false);
  });

  it('matches a multi-valued attribute when any value matches, case-insensitively', () => {
    expect(test('emails co "HOME.example"')).toBe(true);
    expect(test('emails.value eq "ADA@work.example.com"')).toBe(true);
    expect(test('emails.type eq "other"')).toBe(false);
  });

  it('evaluates value paths within one value', () => {
    expect(test('emails[type eq "work" and value co "@work"]')).toBe(true);
    expect(test('emails[type eq "work" and value co "@home"]')).toBe(false);
  });

  it('reads Entra\'s emails[type eq "work"].value eq "x" as one email satisfying both', () => {
    expect(rewriteValuePathSubAttributes('emails[type eq "work"].value eq "x"')).toBe('emails[(type eq "work") and value eq "x"]');
    expect(test('emails[type eq "work"].value eq "ada@work.example.com"')).toBe(true);
    // the home address is not the work one: two different emails must not satisfy it together
    expect(test('emails[type eq "work"].value eq "ada@home.example.com"')).toBe(false);
  });

  it('applies not, and/or precedence and grouping', () => {
    expect(test('not (userName eq "x")')).toBe(true);
    expect(test('userName eq "x" or title eq "Engineer" and active eq false')).toBe(false);
    expect(test('(userName eq "x" or title eq "Engineer") and active eq true')).toBe(true);
  });

  it('treats ne as not-eq, including for an attribute the resource lacks', () => {
    expect(test('locale ne "en-GB"')).toBe(true);
    expect(test('emails.value ne "ada@home.example.com"')).toBe(false);
  });

  it('compares dateTime as instants, not text', () => {
    expect(test('meta.created gt "2024-03-01T07:59:59+00:00"')).toBe(true);
    expect(test('meta.created eq "2024-03-01T09:00:00+01:00"')).toBe(true);
    expect(test('meta.lastModified lt "2024-01-01T00:00:00Z"')).toBe(false);
  });

  it('resolves URN-qualified extension attributes, and names case-insensitively', () => {
    expect(test(`${URN.enterprise}:department eq "dc operations"`)).toBe(true);
    expect(test(`${URN.enterprise}:manager.value eq "m-1"`)).toBe(true);
    expect(test('USERNAME Eq "ada.lovelace@example.com"')).toBe(true);
    expect(test(`${URN.user}:userName sw "Ada"`)).toBe(true);
  });

  it('accepts "true"/"false" strings for booleans, as Entra sends them', () => {
    expect(test('active eq "True"')).toBe(true);
    expect(test('active eq false')).toBe(false);
  });

  it('eq null means absent, ne null means present', () => {
    expect(test('locale eq null')).toBe(true);
    expect(test('title ne null')).toBe(true);
  });

  it('refuses unknown attributes, bad syntax and operators that do not fit the type with invalidFilter', () => {
    for (const f of [
      'shoeSize eq "42"',
      'userName eq',
      'userName xx "a"',
      'active gt true',
      'name eq "Ada"',
      'meta.created gt "yesterday"',
      '(userName eq "a"',
    ]) {
      const e = scimError(() => compileFilter(userResourceType, f));
      expect(e.httpStatus, f).toBe(400);
      expect(e.scimType, f).toBe('invalidFilter');
    }
  });
});

describe('SCIM filter translation to SQL', () => {
  const target: SqlTarget = {
    columns: {
      userName: { sql: 'u.user_name_key', kind: 'folded', notNull: true },
      externalId: { sql: 'u.external_id', kind: 'text', notNull: false },
      id: { sql: 'u.id', kind: 'uuid', notNull: true },
    },
  };

  it('turns userName eq into an equality on the folded key column (index-friendly)', () => {
    const p = new SqlParams();
    expect(toSqlExact(compileFilter(userResourceType, 'userName eq "Ada@Example.com"').root, target, p)).toBe('(u.user_name_key = $1)');
    expect(p.values).toEqual(['ada@example.com']);
  });

  it('keeps externalId case as given, and escapes LIKE wildcards', () => {
    const p = new SqlParams();
    expect(toSqlExact(compileFilter(userResourceType, 'externalId eq "E_1"').root, target, p)).toBe('(u.external_id = $1)');
    const q = new SqlParams();
    toSqlExact(compileFilter(userResourceType, 'externalId co "50%_x"').root, target, q);
    expect(q.values).toEqual(['%50\\%\\_x%']);
  });

  it('has no exact translation for attributes without a column, but pre-filters on the parts that have one', () => {
    const f = compileFilter(userResourceType, 'userName eq "a" and emails.value co "x"');
    expect(toSqlExact(f.root, target, new SqlParams())).toBeNull();
    const p = new SqlParams();
    expect(toSqlPrefilter(f.root, target, p)).toBe('((u.user_name_key = $1))');
    expect(toSqlPrefilter(compileFilter(userResourceType, 'userName eq "a" or title eq "b"').root, target, new SqlParams())).toBeNull();
  });

  it('negates NULL-safely', () => {
    const p = new SqlParams();
    expect(toSqlExact(compileFilter(userResourceType, 'not (externalId eq "x")').root, target, p)).toBe('(NOT COALESCE((u.external_id = $1), false))');
  });

  it('answers id equality on a non-uuid with FALSE instead of a cast error', () => {
    expect(toSqlExact(compileFilter(userResourceType, 'id eq "nope"').root, target, new SqlParams())).toBe('FALSE');
  });

  it('translates group member value paths to a membership lookup', () => {
    const g: SqlTarget = { columns: {}, memberExists: (p) => `MEMBER(${p})` };
    const p = new SqlParams();
    const id = '2819c223-7f76-453a-919d-413861904646';
    expect(toSqlExact(compileFilter(groupResourceType, `members[value eq "${id.toUpperCase()}"]`).root, g, p)).toBe('MEMBER($1)');
    expect(p.values).toEqual([id]);
  });
});
