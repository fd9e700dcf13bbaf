import { describe, expect, it } from 'vitest';
import { identityView, matchFilter, parseFilter } from '../../../src/policy/index.js';
import { person } from './helpers.js';

const alice = identityView(
  person({
    userName: 'alice',
    employeeType: 'Employee',
    department: 'DC Operations',
    sponsor: '',
    hireDate: '2024-03-01',
    groups: ['DC Operations', 'All Staff'],
    roles: [
      { value: 'DC Technician', type: 'site-a', primary: true },
      { value: 'Network Engineer', type: 'site-b' },
    ],
    attributes: { costCenter: 'CC-42', userName: 'shadow', badgeLevel: 3 },
  }),
);

function matches(filter: string): boolean {
  return matchFilter(parseFilter(filter), alice).matched;
}

describe('SCIM filters over identities', () => {
  it('matches a multi-valued attribute when any value matches, case-insensitively', () => {
    expect(matches('groups eq "DC Operations"')).toBe(true);
    expect(matches('groups eq "dc operations"')).toBe(true);
    expect(matches('GROUPS eq "All Staff"')).toBe(true);
    expect(matches('groups eq "Security"')).toBe(false);
    expect(matches('groups sw "dc "')).toBe(true);
    expect(matches('groups co "staff"')).toBe(true);
  });

  it('compares roles by their value, and value paths filter on sub-attributes of one role', () => {
    expect(matches('roles eq "DC Technician"')).toBe(true);
    expect(matches('roles eq "site-a"')).toBe(false);
    expect(matches('roles.type eq "site-b"')).toBe(true);
    expect(matches('roles[type eq "site-b"]')).toBe(true);
    expect(matches('roles[type eq "site-b" and value eq "Network Engineer"]')).toBe(true);
    // Both conditions must hold for the same role: DC Technician is at site-a, not site-b.
    expect(matches('roles[type eq "site-b" and value eq "DC Technician"]')).toBe(false);
    expect(matches('roles[primary eq true and value eq "dc technician"]')).toBe(true);
  });

  it('reports which role made the filter true', () => {
    const out = matchFilter(parseFilter('roles[type eq "site-b"] or groups eq "Nope"'), alice);
    expect(out.hits).toEqual([{ key: 'roles', element: { value: 'Network Engineer', type: 'site-b' } }]);
  });

  it('treats ne as not eq, also for multi-valued and absent attributes', () => {
    expect(matches('groups ne "DC Operations"')).toBe(false);
    expect(matches('groups ne "Visitors"')).toBe(true);
    expect(matches('jobTitle ne "Contractor"')).toBe(true);
    expect(matches('employeeType ne "employee"')).toBe(false);
  });

  it('supports pr, not, and/or precedence and grouping', () => {
    expect(matches('department pr')).toBe(true);
    expect(matches('sponsor pr')).toBe(false);
    expect(matches('jobTitle pr')).toBe(false);
    expect(matches('not (groups eq "Security")')).toBe(true);
    expect(matches('not (groups eq "All Staff")')).toBe(false);
    expect(matches('groups eq "Security" or groups eq "All Staff" and employeeType eq "Employee"')).toBe(true);
    expect(matches('(groups eq "Security" or groups eq "All Staff") and employeeType eq "Contractor"')).toBe(false);
    expect(matches('groups eq "Security" or (groups eq "All Staff" and not (employeeType eq "Contractor"))')).toBe(true);
  });

  it('exposes extra attributes at top level without letting them shadow core fields', () => {
    expect(matches('costCenter eq "cc-42"')).toBe(true);
    expect(matches('badgeLevel ge 3')).toBe(true);
    expect(matches('userName eq "alice"')).toBe(true);
    expect(matches('userName eq "shadow"')).toBe(false);
  });

  it('compares dates as instants and accepts schema URNs', () => {
    expect(matches('hireDate gt "2024-02-29T23:00:00Z"')).toBe(true);
    expect(matches('hireDate lt "2024-01-01"')).toBe(false);
    expect(matches('urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "DC Operations"')).toBe(true);
  });

  it('lists the attributes a filter references, once each', () => {
    expect(parseFilter('groups eq "a" and (Groups eq "b" or roles[type eq "x"]) and not (employeeType pr)').attributes).toEqual([
      'groups',
      'roles',
      'employeeType',
    ]);
  });
});
