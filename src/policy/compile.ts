/**
 * Mappings -> CompiledPolicy: references resolved, filters parsed, role bundles flattened
 * into (access group, chain of bundles, limits) so that evaluation is a walk over rules.
 * Everything the schema cannot say (cross references, cycles, class caps, filter syntax)
 * is checked here, as issues with a path the loader turns into file:line:col.
 */
import { formatPath } from '../config/yaml.js';
import { durationMs } from '../domain/duration.js';
import { LockstepError } from '../domain/errors.js';
import type { AccessGroup, ProtectionClass } from '../domain/access.js';
import { parseFilter, type CompiledFilter } from './filter.js';
import type { Lifecycle, Mappings, ValidityLimit } from './schema.js';
import { compileInvariants, type CompiledInvariants } from './invariants.js';

export type IssuePath = Array<string | number>;

/** A problem found in merged mappings; `path` addresses the merged document. */
export interface PolicyIssue {
  path: IssuePath;
  message: string;
  /** Another place the message refers to (the first definition of a duplicate id). */
  related?: IssuePath;
}

/** A limit in time, in milliseconds, with the words the mapping gave it (for reasons and plans). */
export interface CompiledDuration {
  ms: number;
  /** As written: `30 days`, `PT2H`. */
  text: string;
  /** The field and value that set it: `unusedCredentialDays: 30`, `unusedCredentialAfter: PT30M`. */
  setting: string;
}

export interface ClassPolicy {
  /** maxValidityDays or maxValidity. */
  maxValidity: CompiledDuration | null;
  /** unusedCredentialDays or unusedCredentialAfter. */
  unusedCredential: CompiledDuration | null;
  sponsorRequired: boolean;
}

/** When pre-hire access begins: `ms` before hireDate, rounded down to the start of a UTC day when given in days. */
export interface PreHire extends CompiledDuration {
  wholeDays: boolean;
}

/** One validity limit on a path to an access group, and where it comes from. */
export interface LimitSource {
  kind: 'rule' | 'role';
  /** Rule or role bundle id. */
  id: string;
  limit: ValidityLimit;
  /** maxDays or maxDuration of the limit. */
  max: CompiledDuration | null;
}

/** How a rule reaches one access group: directly or through a chain of bundles. */
export interface CompiledGrant {
  accessGroupId: string;
  /** The bundle that lists the group, when it came through bundles. */
  role?: string;
  /** Bundles from the one the rule names to the one that lists the group (outermost first). */
  roleChain?: string[];
  /** The rule's limits and those of every bundle on the chain; the earliest bound wins. */
  limits: LimitSource[];
}

export interface CompiledRule {
  id: string;
  description?: string;
  when: CompiledFilter;
  grants: CompiledGrant[];
  exemptFromUnusedExpiry: boolean;
}

export interface BundleGrant {
  accessGroupId: string;
  /** From this bundle to the one that lists the group, outermost first. */
  chain: string[];
}

export interface CompiledRole {
  id: string;
  description?: string;
  /** Every access group the bundle carries, through includes too. */
  grants: BundleGrant[];
  maxProtectionClass: ProtectionClass | null;
}

export interface CompiledPolicy {
  /** The merged mappings as validated (defaults applied). */
  mappings: Mappings;
  /** Lower-cased employeeType values that count as employees. */
  employeeTypes: ReadonlySet<string>;
  accessGroups: ReadonlyMap<string, AccessGroup>;
  classes: Readonly<Record<ProtectionClass, ClassPolicy>>;
  roles: ReadonlyMap<string, CompiledRole>;
  rules: readonly CompiledRule[];
  lifecycle: Lifecycle;
  /** lifecycle.preHireDays or lifecycle.preHire (0 days when neither is given). */
  preHire: PreHire;
  /** What no grant may break (policy/invariants.ts). */
  invariants: CompiledInvariants;
}

const DAY = 86_400_000;

/** A limit given in days or as a duration (the schema lets only one of them through), or null. */
function durationOf(days: number | undefined, duration: string | undefined, daysField: string, durationField: string): CompiledDuration | null {
  if (duration !== undefined) return { ms: durationMs(duration), text: duration, setting: `${durationField}: ${duration}` };
  if (days !== undefined) return { ms: days * DAY, text: `${days} days`, setting: `${daysField}: ${days}` };
  return null;
}

function preHireOf(l: Lifecycle): PreHire {
  const d = durationOf(l.preHireDays ?? 0, l.preHire, 'preHireDays', 'preHire')!;
  return { ...d, wholeDays: l.preHire === undefined };
}

const CLASSES: ProtectionClass[] = [0, 1, 2, 3, 4];

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length];
}

function unknownMessage(what: string, id: string, known: Iterable<string>): string {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = editDistance(id.toLowerCase(), k.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  const hint = best !== undefined && bestD <= Math.max(2, Math.floor(id.length / 4)) ? ` (did you mean "${best}"?)` : '';
  return `unknown ${what} "${id}"${hint}`;
}

function checkDuplicates<T>(items: T[], key: (t: T) => string, field: string, base: string, message: (t: T) => string, issues: PolicyIssue[]): void {
  const first = new Map<string, number>();
  items.forEach((item, i) => {
    const k = key(item);
    const j = first.get(k);
    if (j === undefined) first.set(k, i);
    else issues.push({ path: [base, i, field], message: message(item), related: [base, j, field] });
  });
}

/**
 * Bundles reachable from `id` with the chain that reaches each listing of an access group.
 * Stops at a bundle already on the chain, so it terminates on cyclic input (reported elsewhere).
 */
function flattenBundle(id: string, m: Mappings, chain: string[] = []): BundleGrant[] {
  const bundle = m.roles[id];
  if (bundle === undefined || chain.includes(id)) return [];
  const here = [...chain, id];
  const out: BundleGrant[] = bundle.grant.map((accessGroupId) => ({ accessGroupId, chain: here }));
  for (const inc of bundle.include) out.push(...flattenBundle(inc, m, here));
  return out;
}

/** Cycles among role bundles, each reported once at the include that closes it. */
function findCycles(m: Mappings): PolicyIssue[] {
  const issues: PolicyIssue[] = [];
  const state = new Map<string, 'active' | 'done'>();
  const stack: string[] = [];
  const reported = new Set<string>();
  const visit = (id: string): void => {
    state.set(id, 'active');
    stack.push(id);
    const bundle = m.roles[id];
    bundle.include.forEach((inc, k) => {
      if (m.roles[inc] === undefined) return;
      const s = state.get(inc);
      if (s === 'active') {
        const cycle = [...stack.slice(stack.indexOf(inc)), inc];
        const canonical = [...new Set(cycle)].sort().join('\u0000');
        if (!reported.has(canonical)) {
          reported.add(canonical);
          issues.push({ path: ['roles', id, 'include', k], message: `role bundle cycle: ${cycle.join(' -> ')}` });
        }
      } else if (s === undefined) {
        visit(inc);
      }
    });
    stack.pop();
    state.set(id, 'done');
  };
  for (const id of Object.keys(m.roles)) if (!state.has(id)) visit(id);
  return issues;
}

/** Everything wrong with merged mappings beyond their shape. Empty when they compile. */
export function checkMappings(m: Mappings): PolicyIssue[] {
  const issues: PolicyIssue[] = [];
  const groups = new Map(m.accessGroups.map((g) => [g.id, g]));
  const roleIds = Object.keys(m.roles);

  checkDuplicates(
    m.accessGroups,
    (g) => g.id,
    'id',
    'accessGroups',
    (g) => `duplicate access group id "${g.id}"`,
    issues,
  );
  // Two ids for one group in one system would have rules fight over the same membership.
  checkDuplicates(
    m.accessGroups,
    (g) => `${g.system}\u0000${g.ref}`,
    'ref',
    'accessGroups',
    (g) => `access group "${g.id}" declares system "${g.system}" ref "${g.ref}" a second time`,
    issues,
  );
  checkDuplicates(
    m.rules,
    (r) => r.id,
    'id',
    'rules',
    (r) => `duplicate rule id "${r.id}"`,
    issues,
  );

  m.rules.forEach((rule, i) => {
    try {
      parseFilter(rule.when);
    } catch (e) {
      issues.push({ path: ['rules', i, 'when'], message: `invalid SCIM filter: ${e instanceof Error ? e.message : String(e)}` });
    }
    if (rule.grant.length === 0 && rule.roles.length === 0) {
      issues.push({ path: ['rules', i, 'id'], message: `rule "${rule.id}" grants nothing: give it grant or roles` });
    }
    rule.grant.forEach((g, k) => {
      if (!groups.has(g)) issues.push({ path: ['rules', i, 'grant', k], message: unknownMessage('access group', g, groups.keys()) });
    });
    rule.roles.forEach((r, k) => {
      if (m.roles[r] === undefined) issues.push({ path: ['rules', i, 'roles', k], message: unknownMessage('role bundle', r, roleIds) });
    });
  });

  for (const [id, bundle] of Object.entries(m.roles)) {
    bundle.grant.forEach((g, k) => {
      if (!groups.has(g)) issues.push({ path: ['roles', id, 'grant', k], message: unknownMessage('access group', g, groups.keys()) });
    });
    bundle.include.forEach((r, k) => {
      if (m.roles[r] === undefined) issues.push({ path: ['roles', id, 'include', k], message: unknownMessage('role bundle', r, roleIds) });
    });
  }
  issues.push(...findCycles(m));

  for (const [id, bundle] of Object.entries(m.roles)) {
    const max = bundle.maxProtectionClass;
    if (max === undefined) continue;
    const reported = new Set<string>();
    for (const grant of flattenBundle(id, m)) {
      const group = groups.get(grant.accessGroupId);
      if (group === undefined || group.protectionClass <= max) continue;
      const direct = grant.chain.length === 1;
      const path: IssuePath = direct
        ? ['roles', id, 'grant', bundle.grant.indexOf(grant.accessGroupId)]
        : ['roles', id, 'include', bundle.include.indexOf(grant.chain[1])];
      const via = direct ? '' : ` through ${grant.chain.join(' -> ')}`;
      const key = `${formatPath(path)} ${group.id}`;
      if (reported.has(key)) continue;
      reported.add(key);
      issues.push({
        path,
        message: `role bundle "${id}" grants "${group.id}" (class ${group.protectionClass})${via}, above its maxProtectionClass ${max}`,
      });
    }
  }
  issues.push(...checkInvariants(m, groups, roleIds));
  return issues;
}

/** Invariants: unique ids, known groups and bundles, parseable filters, scopes that name something. */
function checkInvariants(m: Mappings, groups: ReadonlyMap<string, unknown>, roleIds: string[]): PolicyIssue[] {
  const issues: PolicyIssue[] = [];
  checkDuplicates(
    m.invariants,
    (x) => x.id,
    'id',
    'invariants',
    (x) => `duplicate invariant id "${x.id}"`,
    issues,
  );
  m.invariants.forEach((x, i) => {
    x.separate?.accessGroups?.forEach((g, k) => {
      if (!groups.has(g)) issues.push({ path: ['invariants', i, 'separate', 'accessGroups', k], message: unknownMessage('access group', g, groups.keys()) });
    });
    x.separate?.roles?.forEach((r, k) => {
      if (m.roles[r] === undefined) issues.push({ path: ['invariants', i, 'separate', 'roles', k], message: unknownMessage('role bundle', r, roleIds) });
    });
    x.scope?.accessGroups?.forEach((g, k) => {
      if (!groups.has(g)) issues.push({ path: ['invariants', i, 'scope', 'accessGroups', k], message: unknownMessage('access group', g, groups.keys()) });
    });
    if (
      x.scope?.protectionClass !== undefined &&
      x.scope.accessGroups === undefined &&
      !m.accessGroups.some((g) => g.protectionClass === x.scope!.protectionClass)
    ) {
      issues.push({
        path: ['invariants', i, 'scope', 'protectionClass'],
        message: `no access group is of class ${x.scope.protectionClass}: invariant "${x.id}" would hold nothing`,
      });
    }
    if (x.require?.when !== undefined) {
      try {
        parseFilter(x.require.when);
      } catch (e) {
        issues.push({ path: ['invariants', i, 'require', 'when'], message: `invalid SCIM filter: ${e instanceof Error ? e.message : String(e)}` });
      }
    }
  });
  return issues;
}

function toAccessGroup(g: Mappings['accessGroups'][number]): AccessGroup {
  return {
    id: g.id,
    system: g.system,
    ref: g.ref,
    name: g.name ?? g.id,
    protectionClass: g.protectionClass,
    ...(g.offline ? { offline: { revalidationDays: g.offline.revalidationDays } } : {}),
  };
}

/** Compiles validated mappings; throws LockstepError('validation') listing every issue. */
export function compile(m: Mappings): CompiledPolicy {
  const issues = checkMappings(m);
  if (issues.length > 0) {
    const lines = issues.map((i) => `${formatPath(i.path) || '(root)'}: ${i.message}`);
    throw new LockstepError('validation', `mappings are invalid (${issues.length} issue${issues.length === 1 ? '' : 's'}):\n${lines.join('\n')}`, {
      field: formatPath(issues[0].path),
      details: issues.map((i) => ({ path: formatPath(i.path), message: i.message })),
    });
  }

  const accessGroups = new Map(m.accessGroups.map((g) => [g.id, toAccessGroup(g)]));

  const classes = {} as Record<ProtectionClass, ClassPolicy>;
  for (const c of CLASSES) {
    const spec = m.classes[String(c) as keyof Mappings['classes']];
    classes[c] = {
      maxValidity: durationOf(spec?.maxValidityDays, spec?.maxValidity, 'maxValidityDays', 'maxValidity'),
      unusedCredential: durationOf(spec?.unusedCredentialDays, spec?.unusedCredentialAfter, 'unusedCredentialDays', 'unusedCredentialAfter'),
      sponsorRequired: spec?.sponsorRequired ?? false,
    };
  }

  const roles = new Map<string, CompiledRole>();
  for (const [id, bundle] of Object.entries(m.roles)) {
    roles.set(id, {
      id,
      ...(bundle.description !== undefined ? { description: bundle.description } : {}),
      grants: flattenBundle(id, m),
      maxProtectionClass: bundle.maxProtectionClass ?? null,
    });
  }

  const limitSource = (kind: LimitSource['kind'], id: string, limit: ValidityLimit): LimitSource => ({
    kind,
    id,
    limit,
    max: durationOf(limit.maxDays, limit.maxDuration, 'maxDays', 'maxDuration'),
  });
  // one per bundle, shared by every path through it
  const bundleLimits = new Map<string, LimitSource>();
  const bundleLimit = (id: string, limit: ValidityLimit): LimitSource => {
    let src = bundleLimits.get(id);
    if (src === undefined) bundleLimits.set(id, (src = limitSource('role', id, limit)));
    return src;
  };

  const rules: CompiledRule[] = m.rules.map((rule) => {
    const ruleLimits: LimitSource[] = rule.validity ? [limitSource('rule', rule.id, rule.validity)] : [];
    const grants: CompiledGrant[] = rule.grant.map((accessGroupId) => ({ accessGroupId, limits: ruleLimits }));
    for (const roleId of rule.roles) {
      for (const bg of roles.get(roleId)?.grants ?? []) {
        const bundleLimits: LimitSource[] = bg.chain.flatMap((b) => {
          const v = m.roles[b].validity;
          return v ? [bundleLimit(b, v)] : [];
        });
        grants.push({
          accessGroupId: bg.accessGroupId,
          role: bg.chain[bg.chain.length - 1],
          ...(bg.chain.length > 1 ? { roleChain: bg.chain } : {}),
          limits: [...ruleLimits, ...bundleLimits],
        });
      }
    }
    return {
      id: rule.id,
      ...(rule.description !== undefined ? { description: rule.description } : {}),
      when: parseFilter(rule.when),
      grants,
      exemptFromUnusedExpiry: rule.exemptFromUnusedExpiry,
    };
  });

  return {
    mappings: m,
    employeeTypes: new Set(m.employeeTypes.map((t) => t.toLowerCase())),
    accessGroups,
    classes,
    roles,
    rules,
    lifecycle: m.lifecycle,
    preHire: preHireOf(m.lifecycle),
    invariants: compileInvariants(m),
  };
}
