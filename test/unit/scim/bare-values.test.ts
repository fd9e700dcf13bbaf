/**
 * Unquoted comparison values (issue 13): the SCIM endpoint reads `externalId eq jyoung` as
 * Microsoft's documentation prints it; mapping rules stay strict.
 */
import { describe, expect, it } from 'vitest';
import { compileFilter, matches, quoteBareValues } from '../../../src/sources/scim/filter.js';
import { userResourceType } from '../../../src/sources/scim/schemas.js';
import { parseFilter } from '../../../src/policy/filter.js';
import { ScimError } from '../../../src/sources/scim/errors.js';

describe('quoteBareValues', () => {
  it.each([
    ['externalId eq jyoung', 'externalId eq "jyoung"'],
    ['userName sw O', 'userName sw "O"'],
    ['meta.lastModified gt 2011-05-13T04:42:34Z', 'meta.lastModified gt "2011-05-13T04:42:34Z"'],
    ['emails[type eq work and value co example.com]', 'emails[type eq "work" and value co "example.com"]'],
    ['(userName eq a) or (userName eq b)', '(userName eq "a") or (userName eq "b")'],
    [
      'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq 00123',
      'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "00123"',
    ],
    ['emails[type eq work].value eq x@y', 'emails[type eq "work"].value eq "x@y"'],
  ])('quotes the bare word in %s', (input, output) => {
    expect(quoteBareValues(input)).toBe(output);
  });

  it.each([
    'active eq true',
    'active eq false',
    'title eq null',
    'x eq 3',
    'x gt -1.5',
    'userName eq "a b eq c"',
    'userName pr',
    'userName eq "with \\"quote\\" eq x"',
  ])('leaves %s as it is', (input) => {
    expect(quoteBareValues(input)).toBe(input);
  });

  it('lets the SCIM endpoint match an unquoted value as the string it means', () => {
    const f = compileFilter(userResourceType, 'externalId eq jyoung and userName sw J');
    expect(matches({ externalId: 'jyoung', userName: 'jyoung@example.com' }, f.root)).toBe(true);
    expect(matches({ externalId: 'jyoung2', userName: 'jyoung@example.com' }, f.root)).toBe(false);
  });

  it('still refuses what is not a filter, with invalidFilter', () => {
    try {
      compileFilter(userResourceType, 'userName eq');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ScimError);
      expect((e as ScimError).scimType).toBe('invalidFilter');
    }
  });

  it('does not make mapping rules lenient: an unquoted value in a rule is an error', () => {
    expect(() => parseFilter('department eq Facilities')).toThrow(/not a value/);
    expect(parseFilter('department eq "Facilities"').attributes).toEqual(['department']);
  });
});
