import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../../src/domain/duration.js';
import { LockstepError } from '../../../src/domain/errors.js';
import { evaluate, evaluateUnremembered } from '../../../src/policy/evaluate.js';
import { parseMappings, type MappingIssue } from '../../../src/policy/index.js';
import { person, policyOf } from './helpers.js';

function issuesOf(text: string, file = 'short.yaml'): MappingIssue[] {
  try {
    parseMappings(text, file);
  } catch (e) {
    expect(e).toBeInstanceOf(LockstepError);
    return (e as LockstepError).details as MappingIssue[];
  }
  throw new Error('expected a validation error');
}

const GROUPS = `version: 1
accessGroups:
  - { id: lobby, system: dc1, ref: LOBBY, protectionClass: 1 }
  - { id: whitespace, system: dc1, ref: WS, protectionClass: 4 }
`;

describe('ISO 8601 durations', () => {
  it('reads weeks, days, hours, minutes and seconds as milliseconds', () => {
    expect(parseDuration('PT30M')).toEqual({ ms: 1_800_000 });
    expect(parseDuration('PT2H')).toEqual({ ms: 7_200_000 });
    expect(parseDuration('P3D')).toEqual({ ms: 3 * 86_400_000 });
    expect(parseDuration('P1W')).toEqual({ ms: 7 * 86_400_000 });
    expect(parseDuration('P1DT12H')).toEqual({ ms: 1.5 * 86_400_000 });
    expect(parseDuration('PT1.25S')).toEqual({ ms: 1250 });
    expect(parseDuration('-PT30M', { signed: true })).toEqual({ ms: -1_800_000 });
  });

  it('refuses what has no fixed length or is no duration at all', () => {
    expect(parseDuration('P1M')).toEqual({ error: expect.stringMatching(/years and months have no fixed length/) });
    expect(parseDuration('P1Y')).toEqual({ error: expect.stringMatching(/years and months/) });
    for (const bad of ['P', 'PT', 'P1DT', '2H', 'PT2h', '30m', '']) expect(parseDuration(bad)).toHaveProperty('error');
    expect(parseDuration('-PT30M')).toEqual({ error: expect.stringMatching(/cannot have a sign/) });
  });
});

describe('duration fields in mappings', () => {
  it('names file, line, path and reason for a duration that is not one', () => {
    const issues = issuesOf(`${GROUPS}classes:
  4: { maxValidity: P1M }
rules:
  - { id: r, when: 'userName pr', grant: [lobby], validity: { maxDuration: 2h } }
lifecycle: { preHire: PT }
`);
    expect(issues).toEqual([
      {
        file: 'short.yaml',
        line: 6,
        column: 21,
        path: 'classes.4.maxValidity',
        message: '"P1M": years and months have no fixed length; write weeks or days (P30D) instead',
      },
      {
        file: 'short.yaml',
        line: 8,
        column: 76,
        path: 'rules[0].validity.maxDuration',
        label: 'rule "r": validity.maxDuration',
        message: '"2h" is not an ISO 8601 duration such as PT30M, PT2H, P3D or P1DT12H',
      },
      { file: 'short.yaml', line: 9, column: 23, path: 'lifecycle.preHire', message: '"PT" is not an ISO 8601 duration such as PT30M, PT2H, P3D or P1DT12H' },
    ]);
  });

  it('refuses a limit in days together with its duration twin, naming both', () => {
    const issues = issuesOf(`${GROUPS}classes:
  4: { maxValidityDays: 1, maxValidity: PT8H, unusedCredentialDays: 2, unusedCredentialAfter: PT30M }
roles:
  tech: { grant: [whitespace], validity: { maxDays: 3, maxDuration: PT2H } }
rules:
  - { id: r, when: 'userName pr', roles: [tech] }
lifecycle: { preHireDays: 1, preHire: PT1H }
`);
    expect(issues.map((i) => `${i.file}:${i.line} ${i.path}: ${i.message}`)).toEqual([
      'short.yaml:6 classes.4.maxValidity: maxValidityDays and maxValidity are the same limit: give one of them, not both',
      'short.yaml:6 classes.4.unusedCredentialAfter: unusedCredentialDays and unusedCredentialAfter are the same limit: give one of them, not both',
      'short.yaml:8 roles.tech.validity.maxDuration: maxDays and maxDuration are the same limit: give one of them, not both',
      'short.yaml:11 lifecycle.preHire: preHireDays and preHire are the same limit: give one of them, not both',
    ]);
  });

  it('refuses a zero limit, but allows no pre-hire time', () => {
    const issues = issuesOf(`${GROUPS}rules:\n  - { id: r, when: 'userName pr', grant: [lobby], validity: { maxDuration: PT0S } }\n`);
    expect(issues.map((i) => `${i.path}: ${i.message}`)).toEqual(['rules[0].validity.maxDuration: "PT0S" is no time at all: give a duration longer than zero']);
    expect(parseMappings(`${GROUPS}lifecycle: { preHire: PT0S }\n`, 'm.yaml').policy.preHire.ms).toBe(0);
  });

  it('compiles durations to milliseconds once, with the words they were given in', () => {
    const { policy } = parseMappings(
      `${GROUPS}classes:
  4: { maxValidity: PT8H, unusedCredentialAfter: PT30M }
  1: { maxValidityDays: 2 }
rules:
  - { id: r, when: 'userName pr', grant: [lobby], validity: { maxDuration: PT2H } }
lifecycle: { preHire: PT1H }
`,
      'm.yaml',
    );
    expect(policy.classes[4]).toEqual({
      maxValidity: { ms: 8 * 3_600_000, text: 'PT8H', setting: 'maxValidity: PT8H' },
      unusedCredential: { ms: 1_800_000, text: 'PT30M', setting: 'unusedCredentialAfter: PT30M' },
      sponsorRequired: false,
    });
    expect(policy.classes[1].maxValidity).toEqual({ ms: 2 * 86_400_000, text: '2 days', setting: 'maxValidityDays: 2' });
    expect(policy.rules[0].grants[0].limits[0].max).toEqual({ ms: 7_200_000, text: 'PT2H', setting: 'maxDuration: PT2H' });
    expect(policy.preHire).toEqual({ ms: 3_600_000, text: 'PT1H', setting: 'preHire: PT1H', wholeDays: false });
  });
});

describe('evaluating durations', () => {
  const policy = policyOf(`${GROUPS}  - { id: techroom, system: dc1, ref: TECH, protectionClass: 3 }
classes:
  4: { maxValidity: PT8H }
roles:
  tech: { grant: [techroom], validity: { maxDuration: PT45M } }
rules:
  - { id: visit, when: 'groups eq "Visitors"', grant: [lobby, whitespace], validity: { maxDuration: PT2H } }
  - { id: tech, when: 'groups eq "Tech"', roles: [tech] }
  - { id: ops, when: 'groups eq "Ops"', grant: [whitespace] }
lifecycle: { preHire: PT1H30M }
`);
  const NOW = new Date('2026-03-10T12:00:00.123Z');
  const at = (ms: number) => new Date(NOW.getTime() + ms).toISOString();

  it('ends a window to the millisecond, says why, and checks back then', () => {
    for (const ev of [evaluate, evaluateUnremembered]) {
      const e = ev(person({ groups: ['Visitors', 'Tech'] }), policy, { now: NOW });
      const by = Object.fromEntries(e.entitlements.map((x) => [x.accessGroup.id, x]));
      expect(by.lobby.validUntil).toBe(at(7_200_000));
      expect(by.lobby.reasons[0].notes).toEqual([`rule visit max PT2H from ${NOW.toISOString()}`]);
      expect(by.techroom.validUntil).toBe(at(2_700_000));
      expect(by.techroom.reasons[0].notes).toEqual([`role tech max PT45M from ${NOW.toISOString()}`]);
      expect(e.nextCheckAt).toBe(at(2_700_000));
    }
  });

  it('caps a class by its maxValidity counted from the anchor, and refuses it one millisecond after', () => {
    const ops = person({ groups: ['Ops'] });
    const began = '2026-03-10T05:00:00.000Z';
    const e = evaluate(ops, policy, { now: NOW, anchors: { whitespace: began } });
    expect(e.entitlements[0].validUntil).toBe('2026-03-10T13:00:00.000Z');
    expect(e.entitlements[0].reasons[0].notes).toEqual([`class 4 max PT8H from ${began}`]);
    // at now = anchor + 8 h the window has closed
    const later = evaluate(ops, policy, { now: new Date('2026-03-10T13:00:00.000Z'), anchors: { whitespace: began } });
    expect(later.entitlements).toEqual([]);
    expect(later.denied).toEqual([{ accessGroupId: 'whitespace', rule: 'ops', reason: `expired 2026-03-10T13:00:00.000Z: class 4 max PT8H from ${began}` }]);
    const justBefore = evaluate(ops, policy, { now: new Date('2026-03-10T12:59:59.999Z'), anchors: { whitespace: began } });
    expect(justBefore.entitlements.map((x) => x.accessGroup.id)).toEqual(['whitespace']);
  });

  it('opens pre-hire access exactly preHire before hireDate, without rounding to a day', () => {
    const joiner = person({ groups: ['Ops'], hireDate: '2026-03-10T14:00:00.000Z' });
    const e = evaluate(joiner, policy, { now: NOW });
    expect(e.entitlements[0].validFrom).toBe('2026-03-10T12:30:00.000Z');
    expect(e.entitlements[0].validUntil).toBe('2026-03-10T20:30:00.000Z');
    expect(e.entitlements[0].reasons[0].notes).toContain('from 2026-03-10T12:30:00.000Z: hireDate 2026-03-10T14:00:00.000Z less PT1H30M pre-hire');
    expect(e.nextCheckAt).toBe('2026-03-10T12:30:00.000Z');
    // a bare hire date starts at midnight UTC: access from 22:30 the evening before
    expect(evaluate(person({ groups: ['Ops'], hireDate: '2026-03-12' }), policy, { now: NOW }).entitlements[0].validFrom).toBe('2026-03-11T22:30:00.000Z');
  });

  it('keeps preHireDays rounding to the start of a UTC day', () => {
    const days = policyOf(`${GROUPS}rules:\n  - { id: r, when: 'userName pr', grant: [lobby] }\nlifecycle: { preHireDays: 1 }\n`);
    const e = evaluate(person({ hireDate: '2026-03-12T14:00:00.000Z' }), days, { now: NOW });
    expect(e.entitlements[0].validFrom).toBe('2026-03-11T00:00:00.000Z');
    expect(e.entitlements[0].reasons[0].notes).toEqual(['from 2026-03-11T00:00:00.000Z: hireDate 2026-03-12T14:00:00.000Z less 1 pre-hire days']);
  });
});
