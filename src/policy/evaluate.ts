/**
 * identity + policy -> the access groups it should hold, why, and for how long. Pure: the
 * clock and the instants entitlements began (anchors) come in as arguments, so the same
 * inputs always give the same answer and the reconciler can replay decisions.
 */
import { isoOfMs } from '../domain/time.js';
import type { AccessGroup, Entitlement, ProtectionClass, Reason } from '../domain/access.js';
import { LockstepError } from '../domain/errors.js';
import { endOfDayIfDate, isLeaver, startOfDayIfDate, type Identity } from '../domain/identity.js';
import type { CompiledGrant, CompiledPolicy, CompiledRule, LimitSource } from './compile.js';
import { displayElement, guardValue, identityView, indexRecord, lookupAttribute, matchFilter, ruledOut, type FilterHit, type FilterView, type GuardMemo } from './filter.js';

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

/**
 * Instants repeat across a large estate (anchors written by one run, the same contract end
 * dates), and toISOString is a large share of evaluating 100k identities: remember recent ones.
 */

/** The instant as its ISO form reads back (whole milliseconds), without the round trip when it is one already. */
function asStored(ms: number): number {
  return Number.isInteger(ms) ? ms : Date.parse(iso(ms));
}

const iso = isoOfMs;

/**
 * Remembers a pure string -> number function's recent answers. The same few instants (anchors
 * a run wrote, contract ends, hire dates) are parsed over and over in a large estate.
 */
function remembered(fn: (s: string) => number): (s: string) => number {
  const cache = new Map<string, number>();
  return (s) => {
    let v = cache.get(s);
    if (v === undefined) {
      v = fn(s);
      if (cache.size >= 4096) cache.clear();
      cache.set(s, v);
    }
    return v;
  };
}

/** An ISO date or date-time as epoch ms; NaN for anything else (open attributes hold anything). */
const parseInstant = remembered((s) => (/^\d{4}-\d{2}-\d{2}/.test(s) ? Date.parse(s) : Number.NaN));

/** As the domain's endOfDayIfDate (a bare date ends at the end of that day), but NaN instead of throwing. */
const endOfDay = remembered((s) => {
  const t = parseInstant(s);
  return Number.isNaN(t) ? t : Date.parse(endOfDayIfDate(s));
});

const startOfDay = remembered((s) => {
  const t = parseInstant(s);
  return Number.isNaN(t) ? t : Date.parse(startOfDayIfDate(s));
});

/** One denial per rule and group (a rule reaching a group by several bundles is refused once). */
function denyPerRule(denied: Denial[], groupId: string, list: Array<{ rule: string; reason: string }>): void {
  const seen = new Set<string>();
  for (const d of list) {
    if (seen.has(d.rule)) continue;
    seen.add(d.rule);
    denied.push({ accessGroupId: groupId, rule: d.rule, reason: d.reason });
  }
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

/**
 * A bound whose note is written only if it turns out to be the one that applies: formatting
 * instants is a large share of evaluating a big estate, and most bounds lose to an earlier one.
 * Plain data rather than closures, which cost more to create than the notes they defer.
 */
type LazyBound =
  | { at: number; kind: 'until'; attribute: string; value: unknown; src: LimitSource }
  | { at: number; kind: 'maxDays'; days: number; src: LimitSource }
  | { at: number; kind: 'class'; days: number; cls: ProtectionClass }
  | { at: number; kind: 'leave'; note: string };

/** `rule dc-ops`, `role dc-technician`: written once per limit of the compiled policy. */
const origins = new WeakMap<LimitSource, string>();
function originOf(src: LimitSource): string {
  let o = origins.get(src);
  if (o === undefined) origins.set(src, (o = `${src.kind} ${src.id}`));
  return o;
}

function noteOf(b: LazyBound, anchor: number): string {
  switch (b.kind) {
    case 'until':
      return `until ${b.attribute} ${String(b.value)} (${originOf(b.src)})`;
    case 'maxDays':
      return shared(maxDaysNotes, b.src, anchor, () => `${originOf(b.src)} max ${b.days} days from ${iso(anchor)}`);
    case 'class':
      return shared(classNotes, b.cls * 1_000_000 + b.days, anchor, () => `class ${b.cls} max ${b.days} days from ${iso(anchor)}`);
    case 'leave':
      return b.note;
  }
}

/**
 * One string per (limit, anchor) for the maxima notes: every entitlement a run anchored at the
 * same instant carries the same words, and a full run holds many evaluations at once.
 */
interface NoteCache<K> {
  get(key: K): Map<number, string> | undefined;
  set(key: K, notes: Map<number, string>): unknown;
}
const maxDaysNotes: NoteCache<LimitSource> = new WeakMap();
/** By class × 1e6 + days: as many keys as the policy has class maxima. */
const classNotes: NoteCache<number> = new Map();

function shared<K>(cache: NoteCache<K>, key: K, anchor: number, make: () => string): string {
  let byAnchor = cache.get(key);
  if (byAnchor === undefined) cache.set(key, (byAnchor = new Map()));
  let note = byAnchor.get(anchor);
  if (note === undefined) {
    note = make();
    if (byAnchor.size >= 1024) byAnchor.clear();
    byAnchor.set(anchor, note);
  }
  return note;
}

/** The earlier bound; the first one on a tie, as a scan keeping the first minimum would. */
function earlier(min: LazyBound | null, b: LazyBound): LazyBound {
  return min === null || b.at < min.at ? b : min;
}

function windowOf(path: GrantPath, view: FilterView, anchor: number, cls: ProtectionClass, policy: CompiledPolicy, leave: Bound | null): PathWindow {
  let min: LazyBound | null = null;
  for (const src of path.grant.limits) {
    if (src.limit.until !== undefined) {
      const found = lookupAttribute(view, src.limit.until);
      const value = found?.value;
      // A missing attribute sets no limit: the schema documents requiring it with `pr`.
      if (value !== undefined && value !== null && value !== '') {
        const at = typeof value === 'string' ? endOfDay(value) : Number.NaN;
        if (Number.isNaN(at)) {
          return { path, until: null, invalid: `${src.limit.until} (used by ${originOf(src)} as its end date) is not a date: ${JSON.stringify(value)}` };
        }
        min = earlier(min, { at, kind: 'until', attribute: src.limit.until, value, src });
      }
    }
    if (src.limit.maxDays !== undefined) min = earlier(min, { at: anchor + src.limit.maxDays * DAY, kind: 'maxDays', days: src.limit.maxDays, src });
  }
  const classMax = policy.classes[cls].maxValidityDays;
  if (classMax !== null) min = earlier(min, { at: anchor + classMax * DAY, kind: 'class', days: classMax, cls });
  if (leave !== null) min = earlier(min, { at: leave.at, kind: 'leave', note: leave.note });
  const chosen = min as LazyBound | null;
  return { path, until: chosen === null ? null : { at: chosen.at, note: noteOf(chosen, anchor) } };
}

/**
 * Rules by their first `attr eq "text"` guard: in a policy of many sites or departments most
 * rules start with one (`site eq "S07" and ...`), and an identity can match only the rules for
 * its own value. Rules without a guard are always candidates.
 */
interface RuleIndex {
  size: number;
  open: number[];
  byName: Map<string, { byValue: Map<string, number[]>; all: number[] }>;
}

const ruleIndexes = new WeakMap<readonly CompiledRule[], RuleIndex>();

function ruleIndexOf(rules: readonly CompiledRule[]): RuleIndex {
  let index = ruleIndexes.get(rules);
  if (index !== undefined && index.size === rules.length) return index;
  index = { size: rules.length, open: [], byName: new Map() };
  rules.forEach((rule, i) => {
    const g = rule.when.guards?.[0];
    if (g === undefined) {
      index!.open.push(i);
      return;
    }
    let e = index!.byName.get(g.name);
    if (e === undefined) index!.byName.set(g.name, (e = { byValue: new Map(), all: [] }));
    e.all.push(i);
    const list = e.byValue.get(g.value);
    if (list === undefined) e.byValue.set(g.value, [i]);
    else list.push(i);
  });
  ruleIndexes.set(rules, index);
  return index;
}

/**
 * Positions of the rules that can match this view, in policy order. A rule left out is one
 * whose first guard ruledOut would reject; every rule kept still goes through ruledOut and
 * matchFilter, so the outcome is the same as trying every rule.
 */
function candidateRules(rules: readonly CompiledRule[], view: FilterView, memo: GuardMemo): number[] {
  const index = ruleIndexOf(rules);
  const out = index.open.slice();
  let lists = out.length > 0 ? 1 : 0;
  for (const [name, e] of index.byName) {
    const v = guardValue(view, name, memo);
    const found = v === null ? e.all : e.byValue.get(v);
    if (found === undefined) continue;
    for (const i of found) out.push(i);
    lists++;
  }
  if (lists > 1) out.sort(ascending);
  return out;
}

interface DeclarationOrder {
  index: Map<string, number>;
  groups: AccessGroup[];
}

/** Access groups by declaration order, per policy: evaluation walks only the groups an identity reaches. */
const declarationOrder = new WeakMap<ReadonlyMap<string, AccessGroup>, DeclarationOrder>();

function orderOf(groups: ReadonlyMap<string, AccessGroup>): DeclarationOrder {
  let order = declarationOrder.get(groups);
  if (order === undefined || order.index.size !== groups.size) {
    const list = [...groups.values()];
    order = { index: new Map([...groups.keys()].map((id, i) => [id, i])), groups: list };
    declarationOrder.set(groups, order);
  }
  return order;
}

const ascending = (a: number, b: number): number => a - b;

export function evaluate(identity: Identity, policy: CompiledPolicy, opts: EvaluateOptions): Evaluation {
  const now = opts.now.getTime();
  if (isLeaver(identity, opts.now)) {
    return { leaver: true, leaverReason: leaverReason(identity, opts.now), entitlements: [], denied: [], nextCheckAt: null };
  }
  const view = identityView(identity);
  const unindex = indexRecord(view);
  try {
    return evaluateView(identity, view, policy, opts, now);
  } finally {
    unindex();
  }
}

function evaluateView(identity: Identity, view: FilterView, policy: CompiledPolicy, opts: EvaluateOptions, now: number): Evaluation {
  const preHire = identity.hireDate ? preHireStart(identity.hireDate, policy.lifecycle.preHireDays) : null;
  const validFromMs = preHire !== null && preHire > now ? preHire : null;
  const leaveAt = identity.leaveDate ? endOfDay(identity.leaveDate) : Number.NaN;
  const leave: Bound | null = Number.isNaN(leaveAt) ? null : { at: leaveAt, note: `leaveDate ${identity.leaveDate}` };
  const employee = policy.employeeTypes.has((identity.employeeType ?? '').toLowerCase());
  const hasSponsor = typeof identity.sponsor === 'string' && identity.sponsor.trim() !== '';

  const paths = new Map<string, GrantPath[]>();
  const memo: GuardMemo = new Map();
  for (const i of candidateRules(policy.rules, view, memo)) {
    const rule = policy.rules[i]!;
    if (ruledOut(rule.when, view, memo)) continue;
    const outcome = matchFilter(rule.when, view);
    if (!outcome.matched) continue;
    const matched = matchedValues(rule.when.attributes, view, outcome.hits);
    const roles = outcome.hits.filter((h) => h.key === 'roles').map((h) => String(displayElement(h.element)));
    for (const grant of rule.grants) {
      const list = paths.get(grant.accessGroupId) ?? [];
      list.push(roles.length > 0 ? { rule, grant, matched, sourceRole: roles.join(', ') } : { rule, grant, matched });
      paths.set(grant.accessGroupId, list);
    }
  }

  const entitlements: Entitlement[] = [];
  const denied: Denial[] = [];
  // Instants at which the answer changes by time alone; each entitlement adds its window's ends.
  const instants: number[] = [];
  if (preHire !== null) instants.push(preHire);
  if (leave !== null) instants.push(leave.at);

  // Declaration order keeps output stable and the way the mapping's authors think of it.
  const order = orderOf(policy.accessGroups);
  const reached: number[] = [];
  for (const id of paths.keys()) {
    const i = order.index.get(id);
    if (i !== undefined) reached.push(i);
  }
  if (reached.length > 1) reached.sort(ascending);
  for (const i of reached) {
    const group = order.groups[i]!;
    const granted = paths.get(group.id)!;
    const cls = group.protectionClass;

    if (policy.classes[cls].sponsorRequired && !employee && !hasSponsor) {
      const type = identity.employeeType ? `employeeType "${identity.employeeType}"` : 'no employeeType';
      const reason = `class ${cls} requires a sponsor for non-employees; this identity (${type}) has none`;
      denyPerRule(denied, group.id, granted.map((p) => ({ rule: p.rule.id, reason })));
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
      denyPerRule(denied, group.id, problems);
      continue;
    }

    // Several paths: the most generous window wins (any unbounded path makes it unbounded).
    let until: number | null = -Infinity;
    for (const w of live) {
      if (w.until === null) {
        until = null;
        break;
      }
      if (w.until.at > until) until = w.until.at;
    }
    const fromNote =
      validFromMs !== null ? `from ${iso(validFromMs)}: hireDate ${identity.hireDate} less ${policy.lifecycle.preHireDays} pre-hire days` : undefined;
    const reasons: Reason[] = [];
    for (const w of live) {
      // Built key by key (not with spreads, which cost more than the rest of it): the key
      // order is the one the audit log and plans have always shown.
      const r = { rule: w.path.rule.id } as Reason;
      if (w.path.grant.role !== undefined) r.role = w.path.grant.role;
      if (w.path.grant.roleChain !== undefined) r.roleChain = w.path.grant.roleChain;
      if (w.path.sourceRole !== undefined) r.sourceRole = w.path.sourceRole;
      r.matched = w.path.matched;
      if (w.until || fromNote) {
        const notes: string[] = [];
        if (w.until) notes.push(w.until.note);
        if (fromNote) notes.push(fromNote);
        r.notes = notes;
      }
      reasons.push(r);
    }
    if (validFromMs !== null) instants.push(asStored(validFromMs));
    if (until !== null) instants.push(asStored(until));
    entitlements.push({
      identityId: identity.id,
      accessGroup: group,
      validFrom: validFromMs === null ? null : iso(validFromMs),
      validUntil: until === null ? null : iso(until),
      reasons,
      exemptFromUnusedExpiry: live.some((w) => w.path.rule.exemptFromUnusedExpiry),
    });
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
