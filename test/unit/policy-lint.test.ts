import { describe, expect, it } from 'vitest';
import { parseMappings } from '../../src/policy/index.js';
import { namedPath, unknownAttributeIssues, unmatchedIssues, locateRuleIssue } from '../../src/policy/lint.js';
import { closestMatches, didYouMean } from '../../src/domain/suggest.js';
import type { Identity } from '../../src/domain/identity.js';

const MAPPINGS = `version: 1
accessGroups:
  - { id: perimeter, system: dc1, ref: AG-PERIM, name: Perimeter, protectionClass: 1 }
  - { id: plant, system: dc1, ref: AG-PLANT, name: Plant room, protectionClass: 3 }
roles:
  facilities: { grant: [plant] }
  unused: { grant: [plant] }
rules:
  - { id: staff, when: 'active eq true', grant: [perimeter] }
  - { id: facilities, when: 'departmnt eq "Facilities"', roles: [facilities] }
  - { id: cost, when: 'costCentre eq "4711" and employeeType eq "Employee"', grant: [plant] }
`;

const person = (userName: string, extra: Partial<Identity> = {}): Identity => ({
  id: userName,
  source: 'hr',
  externalId: userName,
  userName,
  active: true,
  groups: [],
  roles: [],
  attributes: {},
  deletedAt: null,
  createdAt: '',
  updatedAt: '',
  version: 1,
  ...extra,
});

describe('mapping lint (issue 26)', () => {
  const { policy } = parseMappings(MAPPINGS, 'm.yaml');

  it('names an attribute nothing provides as an error of its rule, with the close names', () => {
    const issues = unknownAttributeIssues(policy, ['costCenter']);
    expect(issues.map((i) => [i.rule, i.attribute])).toEqual([
      ['facilities', 'departmnt'],
      ['cost', 'costCentre'],
    ]);
    expect(issues[0].message).toBe(
      'rule "facilities": when: departmnt is not an identity attribute and no configured source provides it (did you mean "department"?): the rule would match nobody',
    );
    expect(issues[1].message).toMatch(/costCentre .* \(did you mean "costCenter"\?\)/);
    // a source that provides it (an HR export's column) makes it known
    expect(unknownAttributeIssues(policy, ['departmnt', 'costCentre'])).toEqual([]);
    expect(locateRuleIssue([{ file: 'm.yaml', text: MAPPINGS }], issues[0])).toMatchObject({ file: 'm.yaml', line: 10, path: 'rules[1].when' });
  });

  it('warns about rules and role bundles that match nobody among the people in the store', () => {
    const people = [
      person('anna'),
      person('ben', { department: 'Facilities' }),
      person('gone', { deletedAt: '2026-01-01T00:00:00Z', attributes: { departmnt: 'Facilities' } }),
    ];
    const warnings = unmatchedIssues(policy, people).map((w) => w.message);
    expect(warnings).toEqual([
      'rule "facilities" matches nobody among the 2 people in the store (when: departmnt eq "Facilities")',
      'rule "cost" matches nobody among the 2 people in the store (when: costCentre eq "4711" and employeeType eq "Employee")',
      'role bundle "facilities" reaches nobody among the 2 people in the store: every rule that names it matches nobody',
      'role bundle "unused" is named by no rule: it grants nothing',
    ]);
    const fixed = parseMappings(MAPPINGS.replace('departmnt', 'department'), 'm.yaml').policy;
    expect(unmatchedIssues(fixed, people).map((w) => w.rule ?? w.bundle)).toEqual(['cost', 'unused']);
  });

  it('names rules and access groups by id in schema errors, not by index', () => {
    const raw = { rules: [{ id: 'staff' }, { id: 'dc-ops' }], accessGroups: [{ id: 'perimeter' }] };
    expect(namedPath(raw, 'rules[1].when')).toBe('rule "dc-ops": when');
    expect(namedPath(raw, 'accessGroups[0].protectionClass')).toBe('access group "perimeter": protectionClass');
    expect(namedPath(raw, 'rules[5].when')).toBeNull();
    expect(() =>
      parseMappings(
        MAPPINGS.replace(`{ id: facilities, when: 'departmnt eq "Facilities"', roles: [facilities] }`, '{ id: facilities, roles: [facilities] }'),
        'm.yaml',
      ),
    ).toThrow(/m\.yaml:10:\d+: rule "facilities": when: required/);
  });

  it('suggests close names', () => {
    expect(closestMatches('ana.schmidt', ['anna.schmidt', 'ben.keller', 'hanna.schmitt'])).toEqual(['anna.schmidt', 'hanna.schmitt']);
    expect(didYouMean('departmnt', ['department', 'site'])).toBe(' (did you mean "department"?)');
    expect(didYouMean('zzz', ['department'])).toBe('');
  });
});
