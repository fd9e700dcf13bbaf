import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parse } from 'csv-parse/sync';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Identity } from '../../../src/domain/identity.js';
import { evaluate, loadMappings, type Evaluation, type LoadedMappings } from '../../../src/policy/index.js';
import { person } from './helpers.js';

const examples = fileURLToPath(new URL('../../../mappings/examples/', import.meta.url));
const NOW = new Date('2026-11-22T09:00:00.000Z');

/** hr.csv as a file source would map it: semicolon-separated groups and roles, empty = absent. */
async function hrPeople(): Promise<Identity[]> {
  const rows = parse<Record<string, string>>(await readFile(`${examples}hr.csv`), { columns: true });
  const opt = (v: string): string | undefined => (v === '' ? undefined : v);
  const list = (v: string): string[] => (v === '' ? [] : v.split(';'));
  return rows.map((r) =>
    person({
      externalId: r.employeeId,
      userName: r.userName,
      displayName: r.displayName,
      email: opt(r.email),
      employeeType: opt(r.employeeType),
      department: opt(r.department),
      jobTitle: opt(r.jobTitle),
      site: opt(r.site),
      manager: opt(r.manager),
      sponsor: opt(r.sponsor),
      hireDate: opt(r.hireDate),
      leaveDate: opt(r.leaveDate),
      contractEnd: opt(r.contractEnd),
      groups: list(r.groups),
      roles: list(r.roles).map((value) => ({ value })),
      active: r.active === 'true',
    }),
  );
}

describe('the data-centre example', () => {
  let loaded: LoadedMappings;
  let results: Map<string, Evaluation>;
  beforeAll(async () => {
    loaded = await loadMappings(examples);
    results = new Map((await hrPeople()).map((p) => [p.userName, evaluate(p, loaded.policy, { now: NOW })]));
  });

  it('loads cleanly and covers classes 1 to 4', () => {
    expect(loaded.files.map((f) => f.slice(examples.length))).toEqual(['datacenter.yaml']);
    expect(new Set([...loaded.policy.accessGroups.values()].map((g) => g.protectionClass))).toEqual(new Set([1, 2, 3, 4]));
  });

  it('has people in hr.csv that exercise every rule', () => {
    expect(results.size).toBeGreaterThanOrEqual(28);
    const used = new Set<string>();
    for (const ev of results.values()) {
      for (const e of ev.entitlements) for (const r of e.reasons) used.add(r.rule);
      for (const d of ev.denied) used.add(d.rule);
    }
    expect([...used].sort()).toEqual(loaded.policy.rules.map((r) => r.id).sort());
  });

  it('includes a future hire, a contractor ending soon, a leaver and a denied unsponsored visitor', () => {
    const hire = results.get('mia.klein')!;
    expect(hire.entitlements.every((e) => e.validFrom === '2027-01-04T00:00:00.000Z')).toBe(true);
    const ending = results.get('uwe.zimmer')!;
    expect(ending.entitlements.map((e) => e.validUntil)).toEqual(Array(3).fill('2026-12-04T23:59:59.999Z'));
    expect(results.get('noah.wolf')!.leaver).toBe(true);
    expect(results.get('emil.roth')!.denied).toEqual([expect.objectContaining({ accessGroupId: 'dc1-whitespace', rule: 'audit-visitors' })]);
  });

  it('gives security guards every area and exempts them from the unused-credential sweep', () => {
    const guard = results.get('rosa.martin')!;
    expect(guard.entitlements.map((e) => e.accessGroup.id).sort()).toEqual([...loaded.policy.accessGroups.keys()].sort());
    expect(guard.entitlements.every((e) => e.exemptFromUnusedExpiry)).toBe(true);
  });
});
