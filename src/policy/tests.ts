/**
 * Mapping tests (issue 27): `*.test.yaml` files beside the mappings say, for a person described
 * in the file and a fixed `now`, which access groups the mappings must grant (and with which
 * validity bounds), which they must refuse (and why, as a pattern), and which invariants the
 * person's held access must be reported as breaking. `lockstep test` runs them, `lockstep
 * validate` and the What-if run them on every edit: a mapping change is checked the way code is.
 *
 * The evaluation is the one plans use (policy/evaluate.ts), with the person, the sponsor's
 * state, what they hold already and the group holder counts all given by the test: no store,
 * no lock system, no clock.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';
import { formatIssue, issueAt, offsetOf, parseYaml, zodIssues, type YamlIssue } from '../config/yaml.js';
import { LockstepError } from '../domain/errors.js';
import { isoDateSchema, type Identity } from '../domain/identity.js';
import type { SponsorState } from '../domain/sponsor.js';
import type { CompiledPolicy } from './compile.js';
import { evaluate, type Evaluation } from './evaluate.js';
import { heldViolations, holderCounts } from './invariants.js';

/** An instant: an ISO date-time (a bare date is its start, UTC). */
const instantSchema = isoDateSchema.describe('ISO 8601 date-time, e.g. 2026-11-20T09:00:00Z');

const roleSchema = z.union([
  z.string().min(1),
  z.strictObject({ value: z.string().min(1), display: z.string().optional(), type: z.string().optional(), primary: z.boolean().optional() }),
]);

const personSchema = z
  .strictObject({
    userName: z.string().min(1).optional().describe('[test-person]'),
    displayName: z.string().optional(),
    active: z.boolean().default(true),
    deleted: z.boolean().default(false).describe('deleted at source'),
    employeeType: z.string().optional(),
    department: z.string().optional(),
    jobTitle: z.string().optional(),
    site: z.string().optional(),
    manager: z.string().optional(),
    sponsor: z.string().optional().describe("the sponsor attribute; the sponsor's state is the test's `sponsor`"),
    email: z.string().optional(),
    hireDate: isoDateSchema.optional(),
    leaveDate: isoDateSchema.optional(),
    contractEnd: isoDateSchema.optional(),
    groups: z.array(z.string()).default([]),
    roles: z.array(roleSchema).default([]).describe('source roles: "DC Technician" or { value, type }'),
    attributes: z.record(z.string(), z.unknown()).default({}).describe('extra attributes (rules and invariants read them at top level)'),
  })
  .describe('The person, as a source would send them');

/** A bound as the test expects it: an instant, or null for "no bound". */
const boundSchema = z.union([instantSchema, z.null()]);

const groupExpectation = z.union([
  z.string().min(1),
  z.strictObject({
    accessGroup: z.string().min(1),
    validFrom: boundSchema.optional().describe('exact start (null: none)'),
    validUntil: boundSchema.optional().describe('exact end (null: none)'),
  }),
]);

const denialExpectation = z.union([
  z.string().min(1),
  z.strictObject({
    accessGroup: z.string().min(1),
    reason: z.string().min(1).optional().describe('a regular expression the reason must match (case-insensitive)'),
    invariant: z.string().min(1).optional().describe('the invariant that refuses it'),
  }),
]);

const expectSchema = z
  .strictObject({
    grants: z.array(groupExpectation).optional().describe('exactly these access groups are granted'),
    includes: z.array(groupExpectation).optional().describe('at least these are granted'),
    excludes: z.array(z.string().min(1)).optional().describe('none of these is granted'),
    denies: z.array(denialExpectation).optional().describe('these are refused (a rule would grant them), with reasons matching'),
    violations: z.array(z.string().min(1)).optional().describe('exactly these invariants are broken by what the person holds'),
    leaver: z.boolean().optional(),
  })
  .refine((e) => Object.values(e).some((v) => v !== undefined), 'say what to expect: grants, includes, excludes, denies, violations or leaver');

const testSchema = z.strictObject({
  name: z.string().trim().min(1),
  now: instantSchema.optional().describe("[the file's now]"),
  person: personSchema,
  sponsor: z
    .strictObject({
      known: z.boolean().default(true).describe('false: the sponsor attribute names no identity'),
      active: z.boolean().default(true),
      deleted: z.boolean().default(false),
      leaveDate: isoDateSchema.optional(),
    })
    .optional()
    .describe("the sponsor's state [an active identity when person.sponsor is set]"),
  holds: z.array(z.string().min(1)).default([]).describe('access groups the person holds already (kept, and checked against the invariants)'),
  anchors: z.record(z.string(), instantSchema).default({}).describe('when each entitlement first began (maxDays count from it)'),
  holders: z.record(z.string(), z.number().int().min(0)).default({}).describe('people holding each access group already (maxHolders)'),
  expect: expectSchema,
});

export const mappingTestFileSchema = z
  .strictObject({
    $schema: z.string().optional(),
    version: z.literal(1),
    now: instantSchema.describe('the instant every test is evaluated at, unless it says otherwise'),
    tests: z.array(testSchema).min(1),
  })
  .describe('lockstep mapping tests');

export type MappingTestFile = z.output<typeof mappingTestFileSchema>;
export type MappingTest = z.output<typeof testSchema>;

export interface TestSuite {
  file: string;
  now: string;
  tests: MappingTest[];
}

export interface TestSource {
  file: string;
  text: string;
}

/**
 * A zod issue inside a test names the test: `datacenter.test.yaml:31:9: tests[2] "a visitor…":
 * person.hireDate: must be an ISO 8601 date`.
 */
function named(raw: unknown, issue: YamlIssue, index: number): YamlIssue {
  const tests = (raw as { tests?: unknown }).tests;
  const t = Array.isArray(tests) ? (tests[index] as { name?: unknown } | undefined) : undefined;
  const name = typeof t?.name === 'string' ? ` ${JSON.stringify(t.name)}` : '';
  const rest = issue.path.replace(/^tests\[\d+\]\.?/, '');
  return { ...issue, path: `tests[${index}]${name}${rest ? `: ${rest}` : ''}` };
}

/** Parses test files; every problem, in every file, with file, line, column, test and field. */
export function parseTestSources(sources: TestSource[]): { suites: TestSuite[]; issues: YamlIssue[] } {
  const issues: YamlIssue[] = [];
  const suites: TestSuite[] = [];
  for (const s of sources) {
    const parsed = parseYaml(s.text, s.file, issues);
    if (parsed === null) continue;
    const { src, raw } = parsed;
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      issues.push(issueAt(src, 0, [], 'a mapping test file must be a YAML mapping with version: 1, now and tests'));
      continue;
    }
    const r = mappingTestFileSchema.safeParse(raw);
    if (!r.success) {
      // an issue inside a test names the test, so a long file is easy to fix
      for (const i of zodIssues(src, r.error)) {
        const m = /^tests\[(\d+)\]/.exec(i.path);
        issues.push(m ? named(raw, i, Number(m[1])) : i);
      }
      continue;
    }
    const names = new Map<string, number>();
    r.data.tests.forEach((t, i) => {
      const j = names.get(t.name);
      if (j !== undefined)
        issues.push(
          issueAt(src, offsetOf(src, ['tests', i, 'name']), ['tests', i, 'name'], `duplicate test name ${JSON.stringify(t.name)} (also tests[${j}])`),
        );
      else names.set(t.name, i);
    });
    suites.push({ file: s.file, now: r.data.now, tests: r.data.tests });
  }
  return { suites, issues };
}

export function parseTests(sources: TestSource[]): TestSuite[] {
  const { suites, issues } = parseTestSources(sources);
  if (issues.length > 0) {
    throw new LockstepError(
      'validation',
      `mapping tests are invalid (${issues.length} issue${issues.length === 1 ? '' : 's'}):\n${issues.map(formatIssue).join('\n')}`,
      {
        field: issues[0].path || undefined,
        details: issues,
      },
    );
  }
  return suites;
}

export interface TestResult {
  file: string;
  name: string;
  passed: boolean;
  /** What did not hold, one line each. */
  failures: string[];
  /** What the mappings gave, for the failure report. */
  got: { grants: string[]; denied: string[]; violations: string[]; leaver: boolean };
  ms: number;
}

export interface TestReport {
  results: TestResult[];
  passed: number;
  failed: number;
}

const EPOCH = '2000-01-01T00:00:00.000Z';

function identityOf(t: MappingTest, i: number): Identity {
  const p = t.person;
  return {
    id: `test-${i}`,
    source: 'test',
    externalId: `test-${i}`,
    userName: p.userName ?? 'test-person',
    ...(p.displayName !== undefined ? { displayName: p.displayName } : {}),
    active: p.active,
    ...(p.employeeType !== undefined ? { employeeType: p.employeeType } : {}),
    ...(p.department !== undefined ? { department: p.department } : {}),
    ...(p.jobTitle !== undefined ? { jobTitle: p.jobTitle } : {}),
    ...(p.site !== undefined ? { site: p.site } : {}),
    ...(p.manager !== undefined ? { manager: p.manager } : {}),
    ...(p.sponsor !== undefined ? { sponsor: p.sponsor } : {}),
    ...(p.email !== undefined ? { email: p.email } : {}),
    ...(p.hireDate !== undefined ? { hireDate: p.hireDate } : {}),
    ...(p.leaveDate !== undefined ? { leaveDate: p.leaveDate } : {}),
    ...(p.contractEnd !== undefined ? { contractEnd: p.contractEnd } : {}),
    groups: p.groups,
    roles: p.roles.map((r) => (typeof r === 'string' ? { value: r } : r)),
    attributes: p.attributes,
    deletedAt: p.deleted ? EPOCH : null,
    createdAt: EPOCH,
    updatedAt: EPOCH,
    version: 1,
  };
}

function sponsorOf(t: MappingTest): SponsorState | undefined {
  const named = t.person.sponsor?.trim();
  if (!named) return undefined;
  const s = t.sponsor ?? { known: true, active: true, deleted: false };
  if (!s.known) return { found: false };
  return { found: true, id: `sponsor:${named}`, userName: named, active: s.active, deletedAt: s.deleted ? EPOCH : null, leaveDate: s.leaveDate ?? null };
}

function sameBound(expected: string | null, actual: string | null): boolean {
  if (expected === null || actual === null) return expected === actual;
  return Date.parse(expected) === Date.parse(actual);
}

function checkGroup(e: z.output<typeof groupExpectation>, ev: Evaluation, failures: string[]): void {
  const id = typeof e === 'string' ? e : e.accessGroup;
  const got = ev.entitlements.find((x) => x.accessGroup.id === id);
  if (got === undefined) {
    const why = ev.denied.find((d) => d.accessGroupId === id);
    failures.push(`expected ${id} to be granted; it is not${why ? ` (refused: ${why.reason})` : ' (no rule grants it)'}`);
    return;
  }
  if (typeof e === 'string') return;
  if (e.validFrom !== undefined && !sameBound(e.validFrom, got.validFrom))
    failures.push(`${id}: expected validFrom ${e.validFrom ?? 'none'}, got ${got.validFrom ?? 'none'}`);
  if (e.validUntil !== undefined && !sameBound(e.validUntil, got.validUntil)) {
    const notes = got.reasons.flatMap((r) => r.notes ?? []);
    failures.push(`${id}: expected validUntil ${e.validUntil ?? 'none'}, got ${got.validUntil ?? 'none'}${notes.length ? ` (${notes.join('; ')})` : ''}`);
  }
}

function patternOf(p: string): RegExp {
  try {
    return new RegExp(p, 'i');
  } catch {
    // not a regular expression: the text itself
    return new RegExp(p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'i');
  }
}

/** Runs one test against a compiled policy. */
export function runTest(policy: CompiledPolicy, suite: Pick<TestSuite, 'file' | 'now'>, t: MappingTest, i: number): TestResult {
  const started = performance.now();
  const failures: string[] = [];
  const now = new Date(t.now ?? suite.now);
  const identity = identityOf(t, i);
  const held = new Set(t.holds);
  // what the test names must exist: a typo in a test is a failure, not a silent pass
  const known = (id: string, where: string) => {
    if (!policy.accessGroups.has(id)) failures.push(`${where}: ${JSON.stringify(id)} is not an access group of the mappings`);
  };
  for (const g of t.holds) known(g, 'holds');
  for (const g of Object.keys(t.holders)) known(g, 'holders');
  for (const g of Object.keys(t.anchors)) known(g, 'anchors');
  const e = t.expect;
  for (const g of [...(e.grants ?? []), ...(e.includes ?? [])]) known(typeof g === 'string' ? g : g.accessGroup, 'expect');
  for (const g of e.excludes ?? []) known(g, 'expect.excludes');
  for (const d of e.denies ?? []) known(typeof d === 'string' ? d : d.accessGroup, 'expect.denies');
  for (const v of e.violations ?? []) {
    if (!policy.invariants.list.some((x) => x.id === v)) failures.push(`expect.violations: ${JSON.stringify(v)} is not an invariant of the mappings`);
  }

  const ev = evaluate(identity, policy, { now, anchors: t.anchors, sponsor: sponsorOf(t), held, holders: holderCounts(t.holders) });
  // held access is checked as the violation report checks the lock systems' memberships
  const violations = ev.leaver ? [] : heldViolations(identity, held, ev.entitlements, policy.invariants, policy.employeeTypes, now);
  const violated = [...new Set(violations.map((v) => v.invariant))].sort();

  if (failures.length === 0) {
    if (e.leaver !== undefined && e.leaver !== ev.leaver)
      failures.push(`expected ${e.leaver ? 'a leaver' : 'not a leaver'}; ${ev.leaver ? `a leaver (${ev.leaverReason ?? ''})` : 'not a leaver'}`);
    if (e.grants !== undefined) {
      const want = new Set(e.grants.map((g) => (typeof g === 'string' ? g : g.accessGroup)));
      for (const g of e.grants) checkGroup(g, ev, failures);
      const extra = ev.entitlements
        .filter((x) => !want.has(x.accessGroup.id))
        .map((x) => `${x.accessGroup.id} (rule ${x.reasons.map((r) => r.rule).join(', ')})`);
      if (extra.length) failures.push(`granted but not expected: ${extra.join(', ')}`);
    }
    for (const g of e.includes ?? []) checkGroup(g, ev, failures);
    for (const g of e.excludes ?? []) {
      const got = ev.entitlements.find((x) => x.accessGroup.id === g);
      if (got) failures.push(`expected ${g} not to be granted; it is (rule ${got.reasons.map((r) => r.rule).join(', ')})`);
    }
    for (const d of e.denies ?? []) {
      const id = typeof d === 'string' ? d : d.accessGroup;
      const found = ev.denied.filter((x) => x.accessGroupId === id);
      if (found.length === 0) {
        failures.push(
          `expected ${id} to be refused; ${ev.entitlements.some((x) => x.accessGroup.id === id) ? 'it is granted' : 'no rule grants it, so nothing is refused'}`,
        );
        continue;
      }
      if (typeof d === 'string') continue;
      if (d.reason !== undefined && !found.some((x) => patternOf(d.reason!).test(x.reason)))
        failures.push(`${id}: refused, but no reason matches /${d.reason}/i: ${found.map((x) => x.reason).join(' | ')}`);
      if (d.invariant !== undefined && !found.some((x) => x.invariant === d.invariant)) {
        failures.push(
          `${id}: expected to be refused by invariant ${d.invariant}; refused ${found.map((x) => (x.invariant ? `by invariant ${x.invariant}` : `because ${x.reason}`)).join(' | ')}`,
        );
      }
    }
    if (e.violations !== undefined) {
      const want = [...new Set(e.violations)].sort();
      if (want.join('\u0000') !== violated.join('\u0000')) {
        failures.push(
          `expected violations of [${want.join(', ')}], got [${violated.join(', ')}]${violations.length ? `: ${violations.map((v) => v.message).join(' | ')}` : ''}`,
        );
      }
    }
  }
  return {
    file: suite.file,
    name: t.name,
    passed: failures.length === 0,
    failures,
    got: {
      grants: ev.entitlements.map((x) => x.accessGroup.id),
      denied: ev.denied.map((d) => `${d.accessGroupId}: ${d.reason}`),
      violations: violated,
      leaver: ev.leaver,
    },
    ms: performance.now() - started,
  };
}

/** Runs every test of every suite against the policy. */
export function runMappingTests(policy: CompiledPolicy, suites: TestSuite[]): TestReport {
  const results: TestResult[] = [];
  for (const s of suites) s.tests.forEach((t, i) => results.push(runTest(policy, s, t, i)));
  const passed = results.filter((r) => r.passed).length;
  return { results, passed, failed: results.length - passed };
}

/** `  ✓ name` / `  ✗ name` with its failures, per file, then the count. */
export function formatTestReport(r: TestReport): string {
  const lines: string[] = [];
  let file: string | null = null;
  for (const t of r.results) {
    if (t.file !== file) {
      file = t.file;
      lines.push(file);
    }
    lines.push(`  ${t.passed ? 'ok  ' : 'FAIL'} ${t.name}`);
    for (const f of t.failures) lines.push(`         ${f}`);
  }
  lines.push(`${r.results.length} test(s): ${r.passed} passed, ${r.failed} failed`);
  return lines.join('\n');
}

function xml(s: string): string {
  return s
    .replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!)
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '');
}

/** JUnit XML, as CI systems (GitLab, Jenkins, GitHub test reporters) read it: one testsuite per file. */
export function junitXml(r: TestReport): string {
  const byFile = new Map<string, TestResult[]>();
  for (const t of r.results) byFile.set(t.file, [...(byFile.get(t.file) ?? []), t]);
  const total = (ts: TestResult[]) => (ts.reduce((a, t) => a + t.ms, 0) / 1000).toFixed(3);
  const out = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="lockstep mapping tests" tests="${r.results.length}" failures="${r.failed}" errors="0" time="${total(r.results)}">`,
  ];
  for (const [file, ts] of byFile) {
    out.push(`  <testsuite name="${xml(file)}" tests="${ts.length}" failures="${ts.filter((t) => !t.passed).length}" errors="0" time="${total(ts)}">`);
    for (const t of ts) {
      const open = `    <testcase classname="${xml(basename(file).replace(/\.ya?ml$/i, ''))}" name="${xml(t.name)}" time="${(t.ms / 1000).toFixed(3)}"`;
      if (t.passed) out.push(`${open}/>`);
      else out.push(`${open}>`, `      <failure message="${xml(t.failures[0])}" type="assertion">${xml(t.failures.join('\n'))}</failure>`, '    </testcase>');
    }
    out.push('  </testsuite>');
  }
  out.push('</testsuites>');
  return `${out.join('\n')}\n`;
}

/** A test file's name: `*.test.yaml` or `*.test.yml`. */
export const TEST_FILE = /\.test\.ya?ml$/i;

/**
 * The test files `paths` name: files as given, directories' *.test.yaml. Mapping files (not
 * tests) name the tests beside them: `datacenter.yaml` → `datacenter.test.yaml`, and a
 * mapping directory its own *.test.yaml; a mapping without tests adds nothing.
 */
export async function resolveTestFiles(paths: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) {
    let info;
    try {
      info = await stat(p);
    } catch (e) {
      throw new LockstepError('config', `mapping tests: cannot read ${p}: ${e instanceof Error ? e.message : String(e)}`, { cause: e, field: 'paths' });
    }
    if (info.isDirectory()) {
      out.push(
        ...(await readdir(p))
          .filter((n) => TEST_FILE.test(n))
          .sort()
          .map((n) => join(p, n)),
      );
    } else if (TEST_FILE.test(p)) {
      out.push(p);
    } else {
      const beside = join(dirname(p), basename(p).replace(/\.ya?ml$/i, '') + '.test.yaml');
      if (
        await stat(beside).then(
          () => true,
          () => false,
        )
      )
        out.push(beside);
    }
  }
  return [...new Set(out)];
}

export async function readTestSources(files: string[]): Promise<TestSource[]> {
  return Promise.all(files.map(async (file) => ({ file, text: await readFile(file, 'utf8') })));
}
