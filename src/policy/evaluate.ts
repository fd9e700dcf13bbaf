/**
 * identity + policy -> the access groups it should hold, why, and for how long. Pure: the
 * clock and the instants entitlements began (anchors) come in as arguments, so the same
 * inputs always give the same answer and the reconciler can replay decisions.
 */
import type { Entitlement, ProtectionClass, Reason } from '../domain/access.js';
import { LockstepError } from '../domain/errors.js';
import { endOfDayIfDate, isLeaver, startOfDayIfDate, type Identity } from '../domain/identity.js';
import type { CompiledGrant, CompiledPolicy, CompiledRule } from './compile.js';
import { displayElement, identityView, lookupAttribute, matchFilter, type FilterHit, type FilterView } from './filter.js';

const DAY = 86_400_000;

export interface EvaluateOptions {
  now: Date;
  /**
   * When each entitlement first began, by access group id (ISO). maxDays limits count from
   * it, so re-evaluating does not slide the window forward. Default: now, or the validFrom
   * of a pre-hire entitlement that has not started yet.
   */
  anchors?: Record<string, string>;
}

export interface Denial {
  accessGroupId: string;
  rule: string;
  reason: string;
}

export interface Evaluation {
  leaver: boolean;
  /** Why the identity is a leaver (inactive, deleted, left on ...). */
  leaverReason?: string;
  entitlements: Entitlement[];
  /** Groups a matching rule would grant but policy refuses (sponsor missing, expired...). */
  denied: Denial[];
  /** The earliest future instant at which the result changes by time alone; null if never. */
  nextCheckAt: string | null;
}

/** One way an identity reaches an access group: a matching rule, maybe through bundles. */
interface GrantPath {
  rule: CompiledRule;
  grant: CompiledGrant;
  matched: Record<string, unknown>;
  sourceRole?: string;
}

interface Bound {
  at: number;
  note: string;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** An ISO date or date-time as epoch ms; NaN for anything else (open attributes hold anything). */
function parseInstant(s: string): number {
  return /^\d{4}-\d{2}-\d{2}/.test(s) ? Date.parse(s) : Number.NaN;
}

/** As the domain's endOfDayIfDate (a bare date ends at the end of that day), but NaN instead of throwing. */
function endOfDay(s: string): number {
  const t = parseInstant(s);
  return Number.isNaN(t) ? t : Date.parse(endOfDayIfDate(s));
}

function startOfDay(s: string): number {
  const t = parseInstant(s);
  return Number.isNaN(t) ? t : Date.parse(startOfDayIfDate(s));
}

function leaverReason(identity: Identity, now: Date): string {
  if (identity.deletedAt) return `deleted at ${identity.deletedAt}`;
  if (!identity.active) return 'inactive';
  return `left on ${identity.leaveDate ?? '?'} (leaveDate)`;
}

/** The identity's values of the attributes a filter references; for multi-valued ones, the values that matched. */
function matchedValues(attributes: string[], view: FilterView, hits: FilterHit[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of attributes) {
    const found = lookupAttribute(view, name);
    if (found === undefined) {
      out[name] = null;
    } else if (Array.isArray(found.value)) {
      const matched = hits.filter((h) => h.key === found.key).map((h) => displayElement(h.element));
      // Without a positive match (a negation), the whole value shows why the filter held.
      out[found.key] = matched.length > 0 ? matched : found.value.map(displayElement);
    } else {
      out[found.key] = found.value ?? null;
    }
  }
  return out;
}

/** Start of the UTC day `days` before `date`: when pre-hire access begins. */
function preHireStart(hireDate: string, days: number): number | null {
  const t = startOfDay(hireDate) - days * DAY;
  return Number.isNaN(t) ? null : t - (((t % DAY) + DAY) % DAY);
}

interface PathWindow {
  path: GrantPath;
  /** null = unbounded. */
  until: Bound | null;
  /** Set when the path cannot give access at all (an `until` attribute that is not a date). */
  invalid?: string;
}

function windowOf(path: GrantPath, view: FilterView, anchor: number, cls: ProtectionClass, policy: CompiledPolicy, leave: Bound | null): PathWindow {
  const bounds: Bound[] = [];
  for (const src of path.grant.limits) {
    const origin = `${src.kind} ${src.id}`;
    if (src.limit.until !== undefined) {
      const found = lookupAttribute(view, src.limit.until);
      const value = found?.value;
      // A missing attribute sets no limit: the schema documents requiring it with `pr`.
      if (value !== undefined && value !== null && value !== '') {
        const at = typeof value === 'string' ? endOfDay(value) : Number.NaN;
        if (Number.isNaN(at)) {
          return { path, until: null, invalid: `${src.limit.until} (used by ${origin} as its end date) is not a date: ${JSON.stringify(value)}` };
        }
        bounds.push({ at, note: `until ${src.limit.until} ${value} (${origin})` });
      }
    }
    if (src.limit.maxDays !== undefined) {
      bounds.push({ at: anchor + src.limit.maxDays * DAY, note: `${origin} max ${src.limit.maxDays} days from ${iso(anchor)}` });
    }
  }
  const classMax = policy.classes[cls].maxValidityDays;
  if (classMax !== null) bounds.push({ at: anchor + classMax * DAY, note: `class ${cls} max ${classMax} days from ${iso(anchor)}` });
  if (leave !== null) bounds.push(leave);
  const until = bounds.reduce<Bound | null>((min, b) => (min === null || b.at < min.at ? b : min), null);
  return { path, until };
}

export function evaluate(identity: Identity, policy: CompiledPolicy, opts: EvaluateOptions): Evaluation {
  const now = opts.now.getTime();
  if (isLeaver(identity, opts.now)) {
    return { leaver: true, leaverReason: leaverReason(identity, opts.now), entitlements: [], denied: [], nextCheckAt: null };
  }
  const view = identityView(identity);

  const preHire = identity.hireDate ? preHireStart(identity.hireDate, policy.lifecycle.preHireDays) : null;
  const validFromMs = preHire !== null && preHire > now ? preHire : null;
  const leaveAt = identity.leaveDate ? endOfDay(identity.leaveDate) : Number.NaN;
  const leave: Bound | null = Number.isNaN(leaveAt) ? null : { at: leaveAt, note: `leaveDate ${identity.leaveDate}` };
  const employee = policy.employeeTypes.has((identity.employeeType ?? '').toLowerCase());
  const hasSponsor = typeof identity.sponsor === 'string' && identity.sponsor.trim() !== '';

  const paths = new Map<string, GrantPath[]>();
  for (const rule of policy.rules) {
    const outcome = matchFilter(rule.when, view);
    if (!outcome.matched) continue;
    const matched = matchedValues(rule.when.attributes, view, outcome.hits);
    const roles = outcome.hits.filter((h) => h.key === 'roles').map((h) => String(displayElement(h.element)));
    for (const grant of rule.grants) {
      const list = paths.get(grant.accessGroupId) ?? [];
      list.push({ rule, grant, matched, ...(roles.length > 0 ? { sourceRole: roles.join(', ') } : {}) });
      paths.set(grant.accessGroupId, list);
    }
  }

  const entitlements: Entitlement[] = [];
  const denied: Denial[] = [];
  const denyPerRule = (groupId: string, list: Array<{ rule: string; reason: string }>): void => {
    const seen = new Set<string>();
    for (const d of list) {
      if (seen.has(d.rule)) continue;
      seen.add(d.rule);
      denied.push({ accessGroupId: groupId, rule: d.rule, reason: d.reason });
    }
  };

  // Declaration order keeps output stable and the way the mapping's authors think of it.
  for (const group of policy.accessGroups.values()) {
    const granted = paths.get(group.id);
    if (granted === undefined) continue;
    const cls = group.protectionClass;

    if (policy.classes[cls].sponsorRequired && !employee && !hasSponsor) {
      const type = identity.employeeType ? `employeeType "${identity.employeeType}"` : 'no employeeType';
      const reason = `class ${cls} requires a sponsor for non-employees; this identity (${type}) has none`;
      denyPerRule(group.id, granted.map((p) => ({ rule: p.rule.id, reason })));
      continue;
    }

    let anchor = validFromMs ?? now;
    const given = opts.anchors?.[group.id];
    if (given !== undefined) {
      anchor = parseInstant(given);
      if (Number.isNaN(anchor)) {
        throw new LockstepError('validation', `anchor for access group ${group.id} is not an ISO date-time: ${JSON.stringify(given)}`, { field: `anchors.${group.id}` });
      }
    }

    const windows = granted.map((p) => windowOf(p, view, anchor, cls, policy, leave));
    const problems: Array<{ rule: string; reason: string }> = [];
    const live = windows.filter((w) => {
      if (w.invalid !== undefined) {
        problems.push({ rule: w.path.rule.id, reason: w.invalid });
        return false;
      }
      if (w.until !== null && w.until.at <= now) {
        problems.push({ rule: w.path.rule.id, reason: `expired ${iso(w.until.at)}: ${w.until.note}` });
        return false;
      }
      if (w.until !== null && validFromMs !== null && w.until.at <= validFromMs) {
        problems.push({ rule: w.path.rule.id, reason: `empty validity window: would start ${iso(validFromMs)} and end ${iso(w.until.at)} (${w.until.note})` });
        return false;
      }
      return true;
    });
    if (live.length === 0) {
      denyPerRule(group.id, problems);
      continue;
    }

    // Several paths: the most generous window wins (any unbounded path makes it unbounded).
    const until = live.some((w) => w.until === null) ? null : Math.max(...live.map((w) => (w.until as Bound).at));
    const fromNote =
      validFromMs !== null ? `from ${iso(validFromMs)}: hireDate ${identity.hireDate} less ${policy.lifecycle.preHireDays} pre-hire days` : undefined;
    const reasons: Reason[] = live.map((w) => {
      const notes = [...(w.until ? [w.until.note] : []), ...(fromNote ? [fromNote] : [])];
      return {
        rule: w.path.rule.id,
        ...(w.path.grant.role !== undefined ? { role: w.path.grant.role } : {}),
        ...(w.path.grant.roleChain !== undefined ? { roleChain: w.path.grant.roleChain } : {}),
        ...(w.path.sourceRole !== undefined ? { sourceRole: w.path.sourceRole } : {}),
        matched: w.path.matched,
        ...(notes.length > 0 ? { notes } : {}),
      };
    });
    entitlements.push({
      identityId: identity.id,
      accessGroup: group,
      validFrom: validFromMs === null ? null : iso(validFromMs),
      validUntil: until === null ? null : iso(until),
      reasons,
      exemptFromUnusedExpiry: live.some((w) => w.path.rule.exemptFromUnusedExpiry),
    });
  }

  const instants: number[] = [];
  if (preHire !== null) instants.push(preHire);
  if (leave !== null) instants.push(leave.at);
  for (const e of entitlements) {
    if (e.validFrom !== null) instants.push(Date.parse(e.validFrom));
    if (e.validUntil !== null) instants.push(Date.parse(e.validUntil));
  }
  const future = instants.filter((t) => t > now);
  return {
    leaver: false,
    entitlements,
    denied,
    nextCheckAt: future.length > 0 ? iso(Math.min(...future)) : null,
  };
}

function formatValue(v: unknown): string {
  if (Array.isArray(v) && v.length === 1) return JSON.stringify(v[0]);
  return JSON.stringify(v) ?? 'null';
}

function reasonText(r: Reason): string {
  const via = r.role === undefined ? '' : ` via role ${r.roleChain ? r.roleChain.join(' → ') : r.role}`;
  const matched = Object.entries(r.matched).map(([k, v]) => `${k}=${formatValue(v)}`);
  return `rule ${r.rule}${via}${matched.length > 0 ? ` (${matched.join(', ')})` : ''}`;
}

/** Human-readable lines for `lockstep explain`. */
export function explainText(evaluation: Evaluation): string[] {
  if (evaluation.leaver) return [`leaver (${evaluation.leaverReason ?? 'left'}): no access`];
  const lines: string[] = [];
  for (const e of evaluation.entitlements) {
    const window = `${e.validFrom ? `from ${e.validFrom} ` : ''}${e.validUntil ? `until ${e.validUntil}` : 'no end date'}`;
    const exempt = e.exemptFromUnusedExpiry ? ' [exempt from unused-credential expiry]' : '';
    e.reasons.forEach((r, i) => {
      const head = i === 0 ? `+ ${e.accessGroup.id} (class ${e.accessGroup.protectionClass}) ${window}${exempt}  ← ` : '    ← ';
      lines.push(`${head}${reasonText(r)}`);
      for (const note of r.notes ?? []) lines.push(`      · ${note}`);
    });
  }
  for (const d of evaluation.denied) lines.push(`! ${d.accessGroupId} denied (rule ${d.rule}): ${d.reason}`);
  if (evaluation.entitlements.length === 0 && evaluation.denied.length === 0) lines.push('no access groups');
  if (evaluation.nextCheckAt !== null) lines.push(`next check at ${evaluation.nextCheckAt}`);
  return lines;
}
