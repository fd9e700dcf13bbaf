import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { junitXml, loadMappings, parseTestSources, parseTests, readTestSources, resolveTestFiles, runMappingTests } from '../../../src/policy/index.js';
import { policyOf } from './helpers.js';

const examples = join(import.meta.dirname, '../../../mappings/examples');

const policy = policyOf(`
version: 1
classes: { 4: { maxValidityDays: 30 } }
accessGroups:
  - { id: lobby, system: s, ref: L, protectionClass: 1 }
  - { id: hall, system: s, ref: H, protectionClass: 4 }
rules:
  - { id: staff, when: 'employeeType eq "Employee"', grant: [lobby, hall] }
  - { id: temps, when: 'employeeType eq "Temp" and contractEnd pr', grant: [lobby], validity: { until: contractEnd } }
invariants:
  - { id: hall-staff, scope: { accessGroups: [hall] }, require: { when: 'department eq "Ops"' } }
`);

const file = (text: string) => [{ file: 'm.test.yaml', text }];

describe('mapping tests', () => {
  it('pass when the mappings do what they say, with validity bounds and refusals', () => {
    const suites = parseTests(
      file(`
version: 1
now: 2026-11-20T09:00:00Z
tests:
  - name: ops staff get the hall for 30 days
    person: { employeeType: Employee, department: Ops }
    expect:
      grants: [lobby, { accessGroup: hall, validFrom: null, validUntil: 2026-12-20T09:00:00Z }]
  - name: others are refused the hall by the invariant
    person: { employeeType: Employee, department: Sales }
    expect:
      grants: [lobby]
      denies: [{ accessGroup: hall, invariant: hall-staff, reason: 'department eq "Ops"' }]
  - name: temps until their contract ends
    now: 2026-12-01T00:00:00Z
    person: { employeeType: Temp, contractEnd: 2026-12-24 }
    expect:
      grants: [{ accessGroup: lobby, validUntil: 2026-12-24T23:59:59.999Z }]
  - name: a leaver
    person: { employeeType: Employee, active: false }
    expect: { leaver: true, grants: [] }
`),
    );
    const r = runMappingTests(policy, suites);
    expect(r.results.map((t) => [t.name, t.failures])).toEqual([
      ['ops staff get the hall for 30 days', []],
      ['others are refused the hall by the invariant', []],
      ['temps until their contract ends', []],
      ['a leaver', []],
    ]);
    expect(r).toMatchObject({ passed: 4, failed: 0 });
  });

  it('fail with what the mappings gave instead', () => {
    const suites = parseTests(
      file(`
version: 1
now: 2026-11-20T09:00:00Z
tests:
  - name: wrong bound
    person: { employeeType: Employee, department: Ops }
    expect: { includes: [{ accessGroup: hall, validUntil: 2027-01-01T00:00:00Z }] }
  - name: wrong set
    person: { employeeType: Employee, department: Sales }
    expect: { grants: [lobby, hall] }
  - name: wrong reason
    person: { employeeType: Employee, department: Sales }
    expect: { denies: [{ accessGroup: hall, reason: sponsor }] }
  - name: typo in a group
    person: { employeeType: Employee }
    expect: { excludes: [hal] }
  - name: violation expected but none
    person: { employeeType: Employee, department: Ops }
    holds: [hall]
    expect: { violations: [hall-staff] }
`),
    );
    const r = runMappingTests(policy, suites);
    expect(r.failed).toBe(5);
    expect(r.results.map((t) => t.failures)).toEqual([
      ['hall: expected validUntil 2027-01-01T00:00:00Z, got 2026-12-20T09:00:00.000Z (class 4 max 30 days from 2026-11-20T09:00:00.000Z)'],
      ['expected hall to be granted; it is not (refused: refused by invariant hall-staff: requires department eq "Ops"; this identity does not match it)'],
      ['hall: refused, but no reason matches /sponsor/i: refused by invariant hall-staff: requires department eq "Ops"; this identity does not match it'],
      ['expect.excludes: "hal" is not an access group of the mappings'],
      ['expected violations of [hall-staff], got []'],
    ]);
    const xml = junitXml(r);
    expect(xml).toContain('<testsuite name="m.test.yaml" tests="5" failures="5" errors="0"');
    expect(xml).toContain('<testcase classname="m.test" name="wrong set"');
    expect(xml).toContain(
      '<failure message="expected hall to be granted; it is not (refused: refused by invariant hall-staff: requires department eq &quot;Ops&quot;; this identity does not match it)" type="assertion">',
    );
  });

  it('reports a held group that breaks an invariant as a violation', () => {
    const suites = parseTests(
      file(`
version: 1
now: 2026-11-20T09:00:00Z
tests:
  - name: held by someone who no longer qualifies
    person: { employeeType: Employee, department: Sales }
    holds: [hall]
    expect: { includes: [hall], violations: [hall-staff] }
`),
    );
    expect(runMappingTests(policy, suites).results[0].failures).toEqual([]);
  });

  it('name the file, line, test and field of every problem in a test file', () => {
    const { issues } = parseTestSources([
      {
        file: 'dc.test.yaml',
        text: `version: 1
now: 2026-11-20T09:00:00Z
tests:
  - name: first
    person: { employeeType: Employee, hireDate: soon }
    expect: { grants: [] }
  - name: second
    person: { employeeTyp: Employee }
    expect: {}
  - name: first
    person: {}
    expect: { grants: [] }
`,
      },
      { file: 'other.test.yaml', text: 'version: 1\ntests: []\n' },
    ]);
    expect(issues.map((i) => `${i.file}:${i.line}:${i.column}: ${i.path}: ${i.message}`)).toEqual([
      'dc.test.yaml:5:49: tests[0] "first": person.hireDate: must be an ISO 8601 date (YYYY-MM-DD) or date-time',
      'dc.test.yaml:8:15: tests[1] "second": person.employeeTyp: unknown key "employeeTyp"',
      'dc.test.yaml:9:13: tests[1] "second": expect: say what to expect: grants, includes, excludes, denies, violations or leaver',
      expect.stringMatching(/^other\.test\.yaml:1:1: now: required/),
      expect.stringMatching(/^other\.test\.yaml:2:8: tests: Too small/),
    ]);
    expect(() =>
      parseTests([
        {
          file: 'd.test.yaml',
          text: 'version: 1\nnow: 2026-01-01T00:00:00Z\ntests:\n  - { name: a, person: {}, expect: { leaver: false } }\n  - { name: a, person: {}, expect: { leaver: false } }\n',
        },
      ]),
    ).toThrow(/d\.test\.yaml:5:13: tests\[1\]\.name: duplicate test name "a" \(also tests\[0\]\)/);
  });

  it('the example mappings ship with tests that pass, and a mapping directory does not load its tests as mappings', async () => {
    const loaded = await loadMappings(examples);
    expect(loaded.files.map((f) => f.slice(examples.length + 1))).toEqual(['datacenter.yaml']);
    expect(loaded.policy.invariants.list.map((x) => x.id)).toEqual(['watchers-apart', 'class4-limits']);
    const files = await resolveTestFiles([join(examples, 'datacenter.yaml')]);
    expect(files).toEqual([join(examples, 'datacenter.test.yaml')]);
    const r = runMappingTests(loaded.policy, parseTests(await readTestSources(files)));
    expect(r.results.filter((t) => !t.passed).map((t) => [t.name, t.failures])).toEqual([]);
    expect(r.passed).toBeGreaterThanOrEqual(10);
    expect(r.results.some((t) => /watchers-apart/.test(t.name)) && r.results.some((t) => /class4-limits/.test(t.name))).toBe(true);
  });
});
