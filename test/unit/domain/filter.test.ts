/**
 * The one filter core behind rules' `when` (policy) and the SCIM endpoint's filters. Where the
 * two engines it replaced answered differently, these tests say which answer won and why; the
 * rest of each caller's behaviour is in test/unit/policy/filter.test.ts and
 * test/unit/scim/filter.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { FilterError } from '../../../src/domain/filter.js';
import { identityView, matchFilter, parseFilter } from '../../../src/policy/index.js';
import { compileFilter, matches } from '../../../src/sources/scim/filter.js';
import { URN, userResourceType } from '../../../src/sources/scim/schemas.js';
import type { JsonObject } from '../../../src/sources/scim/resource.js';
import { scimError } from '../../helpers/scim.js';
import { person } from '../policy/helpers.js';

const dana = identityView(
  person({
    hireDate: '2024-03-01',
    groups: ['DC Operations', 'All Staff'],
    roles: [{ value: 'DC Technician', type: 'site-a' }],
    attributes: { contractEndText: 'TBD', badges: [{ value: '', type: 'temporary' }] },
  }),
);
const rule = (filter: string) => matchFilter(parseFilter(filter), dana);

const eve: JsonObject = {
  schemas: [URN.user],
  id: '2819c223-7f76-453a-919d-413861904646',
  userName: 'eve',
  emails: [{ value: '', type: 'work' }],
  meta: { resourceType: 'User', created: '2024-03-01T08:00:00.000Z', lastModified: 'Mar 1 2024' },
};
const scim = (filter: string, r: JsonObject = eve) => matches(r, compileFilter(userResourceType, filter).root);

describe('one filter core for rules and the SCIM endpoint', () => {
  it('compares a date with eq and ne as an instant, as SCIM did (rules compared the text)', () => {
    // ge and le already compared instants in rules: eq now agrees with them, and an Entra hire
    // date (a date-time at midnight) equals the bare date an HR export writes
    expect(rule('hireDate eq "2024-03-01T00:00:00Z"').matched).toBe(true);
    expect(rule('hireDate ne "2024-03-01T00:00:00Z"').matched).toBe(false);
    expect(rule('hireDate ge "2024-03-01T00:00:00Z" and hireDate le "2024-03-01T00:00:00Z"').matched).toBe(true);
    expect(scim('meta.created eq "2024-03-01T09:00:00+01:00"')).toBe(true);
  });

  it('never orders a value that is not a date against a date, as SCIM did (rules compared the text)', () => {
    // "tbd" sorts after "2025-01-01" as text: a rule `gt` a date would have granted on it
    expect(rule('contractEndText gt "2025-01-01"').matched).toBe(false);
    expect(rule('contractEndText lt "2025-01-01"').matched).toBe(false);
    // SCIM accepts any date Date.parse reads into a dateTime; only ISO ones compare as instants now
    expect(scim('meta.lastModified gt "2024-01-01T00:00:00Z"')).toBe(false);
    expect(scim('meta.created gt "2024-01-01T00:00:00Z"')).toBe(true);
  });

  it('refuses gt, ge, lt, le, co, sw and ew with null, as SCIM did (rules loaded a test that never holds)', () => {
    expect(() => parseFilter('contractEnd lt null')).toThrow(FilterError);
    expect(() => parseFilter('contractEnd lt null')).toThrow(/only eq and ne compare with null/);
    expect(scimError(() => compileFilter(userResourceType, 'title co null')).scimType).toBe('invalidFilter');
  });

  it('reads eq null as not pr and ne null as pr, and a complex value as present when any sub-attribute is (RFC 7644 pr)', () => {
    // rules: `badges pr` held while `badges eq null` held too; SCIM looked only at each email's value
    expect(rule('badges pr').matched).toBe(true);
    expect(rule('badges eq null').matched).toBe(false);
    expect(rule('badges ne null').matched).toBe(true);
    expect(rule('badges.value pr').matched).toBe(false);
    expect(scim('emails pr')).toBe(true);
    expect(scim('emails eq null')).toBe(false);
    expect(scim('emails.value pr')).toBe(false);
  });

  it('names the values that made ne null hold, as it does for pr (rules named none)', () => {
    expect(rule('roles ne null').hits).toEqual(rule('roles pr').hits);
    expect(rule('roles ne null').hits).toEqual([{ key: 'roles', element: { value: 'DC Technician', type: 'site-a' } }]);
  });

  it("explains syntax errors in the filter's terms for SCIM clients too (SCIM passed the parser's token message on)", () => {
    const e = scimError(() => compileFilter(userResourceType, 'userName eq'));
    expect(e.scimType).toBe('invalidFilter');
    expect(e.message).toMatch(/is not valid SCIM filter syntax \(a comparison is missing its value\)/);
  });

  it("keeps Entra's attr[filter].sub a lenience of the SCIM endpoint: rules refuse it, SCIM rewrites it", () => {
    expect(() => parseFilter('roles[type eq "site-a"].value eq "DC Technician"')).toThrow(/put the test inside the brackets/);
    expect(scim('emails[type eq "work"].value eq ""')).toBe(true);
    // without a comparison after it, nothing can be rewritten: refused rather than read as two tests
    expect(scimError(() => compileFilter(userResourceType, 'emails[type eq "work"].value')).scimType).toBe('invalidFilter');
  });
});
