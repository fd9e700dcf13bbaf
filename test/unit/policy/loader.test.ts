import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LockstepError } from '../../../src/domain/errors.js';
import { compile, loadMappings, parseMappings, parseMappingSources, type MappingIssue } from '../../../src/policy/index.js';

/** The issues a failing parse reports; fails the test if it does not fail. */
function issuesOf(fn: () => unknown): MappingIssue[] {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(LockstepError);
    expect((e as LockstepError).code).toBe('validation');
    return (e as LockstepError).details as MappingIssue[];
  }
  throw new Error('expected a validation error');
}

const GROUPS = `version: 1
accessGroups:
  - { id: perimeter, system: dc1, ref: AG-PERIM, protectionClass: 1 }
  - { id: whitespace, system: dc1, ref: AG-WS, protectionClass: 4 }
`;

describe('loading mappings', () => {
  it('reports a bad SCIM filter at the when value as file:line:col: path: message', () => {
    const text = `${GROUPS}rules:
  - id: ok
    when: 'groups eq "Staff"'
    grant: [perimeter]
  - id: broken
    when: 'groups eq "Staff" and'
    grant: [perimeter]
`;
    let err: LockstepError | undefined;
    try {
      parseMappings(text, 'datacenter.yaml');
    } catch (e) {
      err = e as LockstepError;
    }
    expect(err?.details).toEqual([expect.objectContaining({ file: 'datacenter.yaml', line: 10, column: 11, path: 'rules[1].when' })]);
    // the message names the rule by its id (issue 26); the array path stays in `path`
    expect(err?.message).toMatch(/^datacenter\.yaml:10:11: rule "broken": when: invalid SCIM filter: /m);
  });

  it('reports an unknown access group id where it is used, with a suggestion', () => {
    const issues = issuesOf(() =>
      parseMappings(
        `${GROUPS}rules:
  - id: r
    when: 'userName pr'
    grant: [perimeter, whitespaec]
`,
        'm.yaml',
      ),
    );
    expect(issues).toEqual([
      {
        file: 'm.yaml',
        line: 8,
        column: 24,
        path: 'rules[0].grant[1]',
        label: 'rule "r": grant[1]',
        message: 'unknown access group "whitespaec" (did you mean "whitespace"?)',
      },
    ]);
  });

  it('rejects unknown keys at the key, so typos are caught', () => {
    const issues = issuesOf(() =>
      parseMappings(
        `${GROUPS}rules:
  - id: r
    when: 'userName pr'
    grant: [perimeter]
    valdity: { maxDays: 3 }
`,
        'm.yaml',
      ),
    );
    expect(issues).toEqual([{ file: 'm.yaml', line: 9, column: 5, path: 'rules[0].valdity', label: 'rule "r": valdity', message: 'unknown key "valdity"' }]);
  });

  it('names the cycle when role bundles include each other', () => {
    const issues = issuesOf(() =>
      parseMappings(
        `${GROUPS}roles:
  a: { grant: [perimeter], include: [b] }
  b: { include: [c] }
  c: { include: [a] }
rules:
  - { id: r, when: 'userName pr', roles: [a] }
`,
        'roles.yaml',
      ),
    );
    expect(issues).toHaveLength(1);
    expect(issues[0].message).toBe('role bundle cycle: a -> b -> c -> a');
    expect(issues[0]).toMatchObject({ line: 8, path: 'roles.c.include[0]' });
  });

  it('reports a bundle that includes itself', () => {
    const issues = issuesOf(() => parseMappings(`${GROUPS}roles:\n  a: { grant: [perimeter], include: [a] }\n`, 'm.yaml'));
    expect(issues.map((i) => i.message)).toEqual(['role bundle cycle: a -> a']);
  });

  it('rejects a protection class outside 0..4, both on a group and as a class key', () => {
    const issues = issuesOf(() =>
      parseMappings(
        `version: 1
classes:
  5: { maxValidityDays: 10 }
accessGroups:
  - { id: g, system: dc1, ref: G, protectionClass: 7 }
`,
        'classes.yaml',
      ),
    );
    expect(issues).toEqual([
      { file: 'classes.yaml', line: 3, column: 3, path: 'classes.5', message: 'unknown key "5"' },
      expect.objectContaining({ file: 'classes.yaml', line: 5, column: 52, path: 'accessGroups[0].protectionClass' }),
    ]);
    expect(issues[1].message).toMatch(/0\|1\|2\|3\|4/);
  });

  it('rejects a bundle granting above its maxProtectionClass, also through an included bundle', () => {
    const issues = issuesOf(() =>
      parseMappings(
        `${GROUPS}roles:
  inner: { grant: [whitespace] }
  outer:
    include: [inner]
    maxProtectionClass: 3
  direct: { grant: [perimeter, whitespace], maxProtectionClass: 2 }
`,
        'm.yaml',
      ),
    );
    expect(issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`)).toEqual([
      '8:15 roles.outer.include[0]: role bundle "outer" grants "whitespace" (class 4) through outer -> inner, above its maxProtectionClass 3',
      '10:32 roles.direct.grant[1]: role bundle "direct" grants "whitespace" (class 4), above its maxProtectionClass 2',
    ]);
  });

  it('reports YAML syntax errors with their position', () => {
    const issues = issuesOf(() => parseMappings('version: 1\nrules:\n  - id: [unclosed\n', 'bad.yaml'));
    expect(issues[0]).toMatchObject({ file: 'bad.yaml', path: '' });
    expect(issues[0].line).toBeGreaterThanOrEqual(3);
    expect(issues[0].message).toMatch(/^YAML: /);
  });

  it('reports every issue at once, in file order', () => {
    const issues = issuesOf(() =>
      parseMappings(
        `${GROUPS}rules:
  - { id: a, when: 'x eq', grant: [nope] }
  - { id: a, when: 'userName pr', grant: [perimeter] }
`,
        'm.yaml',
      ),
    );
    expect(issues.map((i) => `${i.line} ${i.path}: ${i.message}`)).toEqual([
      '6 rules[0].when: invalid SCIM filter: a comparison is missing its value',
      '6 rules[0].grant[0]: unknown access group "nope"',
      '7 rules[1].id: duplicate rule id "a" (first defined at m.yaml:6:11)',
    ]);
  });

  it('requires a rule to grant something and an until that is an attribute name', () => {
    const issues = issuesOf(() =>
      parseMappings(
        `${GROUPS}rules:
  - { id: empty, when: 'userName pr' }
  - { id: bad-until, when: 'userName pr', grant: [perimeter], validity: { until: 42 } }
`,
        'm.yaml',
      ),
    );
    expect(issues.map((i) => i.path)).toEqual(['rules[1].validity.until']);
    const second = issuesOf(() => parseMappings(`${GROUPS}rules:\n  - { id: empty, when: 'userName pr' }\n`, 'm.yaml'));
    expect(second.map((i) => `${i.path}: ${i.message}`)).toEqual(['rules[0].id: rule "empty" grants nothing: give it grant or roles']);
  });

  it('refuses attr[filter].sub, which the parser would evaluate on two different values', () => {
    const issues = issuesOf(() => parseMappings(`${GROUPS}rules:\n  - { id: r, when: 'roles[type eq "b"].value eq "x"', grant: [perimeter] }\n`, 'm.yaml'));
    expect(issues[0].message).toMatch(/roles\[type eq "x" and value eq "y"\]/);
  });

  it('applies documented defaults', () => {
    const { mappings, policy } = parseMappings('version: 1\n', 'empty.yaml');
    expect(mappings.employeeTypes).toEqual(['Employee']);
    expect(mappings.lifecycle).toMatchObject({
      leaver: 'suspend',
      orphans: 'report',
      guard: { maxRevocationsPercent: 20, maxRevocationsAbsolute: 50, minRevocationsToHold: 10 },
    });
    // no pre-hire access unless one of preHireDays and preHire says so
    expect(mappings.lifecycle.preHireDays).toBeUndefined();
    expect(policy.preHire).toEqual({ ms: 0, text: '0 days', setting: 'preHireDays: 0', wholeDays: true });
    expect(policy.classes[4]).toEqual({ maxValidity: null, unusedCredential: null, sponsorRequired: false });
  });

  it('compile() rejects unchecked mappings too, naming the path', () => {
    const { mappings } = parseMappings(GROUPS, 'm.yaml');
    const broken = { ...mappings, rules: [{ id: 'r', when: 'userName pr', grant: ['ghost'], roles: [], exemptFromUnusedExpiry: false }] };
    expect(() => compile(broken)).toThrow(/rules\[0\]\.grant\[0\]: unknown access group "ghost"/);
  });
});

describe('merging several files', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lockstep-policy-'));
    await writeFile(join(dir, '10-groups.yaml'), GROUPS);
    await writeFile(join(dir, '20-rules.yml'), "version: 1\nlifecycle: { preHireDays: 3 }\nrules:\n  - { id: r, when: 'userName pr', grant: [whitespace] }\n");
    await writeFile(join(dir, 'notes.txt'), 'not a mapping');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('loads a directory: references resolve across files', async () => {
    const loaded = await loadMappings(dir);
    expect(loaded.files.map((f) => f.slice(dir.length + 1))).toEqual(['10-groups.yaml', '20-rules.yml']);
    expect(loaded.policy.rules[0].grants.map((g) => g.accessGroupId)).toEqual(['whitespace']);
    expect(loaded.mappings.lifecycle.preHireDays).toBe(3);
  });

  it('reports a duplicate id across files in the second file, pointing at the first', () => {
    const issues = issuesOf(() =>
      parseMappingSources([
        { file: 'a.yaml', text: GROUPS },
        { file: 'b.yaml', text: 'version: 1\naccessGroups:\n  - { id: perimeter, system: dc1, ref: OTHER, protectionClass: 1 }\n' },
      ]),
    );
    expect(issues).toEqual([
      {
        file: 'b.yaml',
        line: 3,
        column: 11,
        path: 'accessGroups[0].id',
        label: 'access group "perimeter": id',
        message: 'duplicate access group id "perimeter" (first defined at a.yaml:3:11)',
      },
    ]);
  });

  it('allows lifecycle in one file only and merges role bundles by id', () => {
    const issues = issuesOf(() =>
      parseMappingSources([
        { file: 'a.yaml', text: `${GROUPS}lifecycle: { leaver: revoke }\nroles:\n  x: { grant: [perimeter] }\n` },
        { file: 'b.yaml', text: 'version: 1\nlifecycle: { leaver: delete }\nroles:\n  x: { grant: [perimeter] }\n' },
      ]),
    );
    expect(issues.map((i) => `${i.file}:${i.line} ${i.path}: ${i.message}`)).toEqual([
      'b.yaml:2 lifecycle: lifecycle is already defined at a.yaml:5:1; define it in one file only',
      'b.yaml:4 roles.x: duplicate role bundle id "x" (first defined at a.yaml:7:3)',
    ]);
  });

  it('fails with a config error for a path that does not exist', async () => {
    await expect(loadMappings(join(dir, 'missing.yaml'))).rejects.toMatchObject({ code: 'config' });
  });
});
