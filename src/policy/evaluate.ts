/**
 * identity + policy -> the access groups it should hold, why, and for how long. Pure: the
 * clock and the instants entitlements began (anchors) come in as arguments, so the same
 * inputs always give the same answer and the reconciler can replay decisions. The rules: which
 * match, the groups they reach, validity, sponsors, requests' grants and exceptions' denials;
 * the memo that remembers which rules matched is in rule-memo.ts.
 */
import { isoInstantMs, isoOfMs } from '../domain/time.js';
import type { AccessGroup, Entitlement, ProtectionClass, Reason } from '../domain/access.js';
import { LockstepError } from '../domain/errors.js';
import { endOfDayIfDate, isLeaver, startOfDayIfDate, type Identity } from '../domain/identity.js';
import type { SponsorState } from '../domain/sponsor.js';
import type { AccessException, RequestGrant } from '../domain/governance.js';
import { applyExceptions, type ExceptionRef } from './exception-denials.js';
import { applyInvariants, type HolderCounts } from './invariants.js';
import type { InvariantViolation } from '../domain/plan.js';
import type { CompiledDuration, CompiledGrant, CompiledPolicy, CompiledRule, LimitSource, PreHire } from './compile.js';
import {
  displayElement,
  guardValue,
  identityView,
  indexRecord,
  lookupAttribute,
  lookupIdentity,
  matchFilter,
  plainIdentity,
  ruledOut,
  type AttributeName,
  type FilterHit,
  type FilterView,
  type GuardMemo,
} from './filter.js';
import { keyPart, memoKey, nameOf, review, ruleMemos, RULE_MEMO_MAX } from './rule-memo.js';

export { RULE_MEMO_MAX };

/** What the rules' memo keeps per key: the remembered rules' matches and, when every rule is remembered, the whole answer. */
interface Remembered {
  matches: RuleMatch[];
  /** Without rules evaluated per person: the whole answer. */
  result: Matches;
}

const ruleMemoOf = ruleMemos<Remembered>();

const DAY = 86_400_000;

export interface EvaluateOptions {
  now: Date;
  /**
   * When each entitlement first began, by access group id (ISO). maxDays limits count from
   * it, so re-evaluating does not slide the window forward. Default: now, or the validFrom
   * of a pre-hire entitlement that has not started yet.
   */
  anchors?: Record<string, string>;
  /**
   * The identity the person's `sponsor` attribute names, as the store resolved it
   * (store sponsorStates). Groups of a sponsorRequired class are refused to a non-employee
   * whose sponsor is unknown, deleted, inactive or past their leaveDate, and end at the
   * sponsor's future leaveDate. Left out, only the attribute's presence is checked: callers
   * that reconcile always resolve it.
   */
  sponsor?: SponsorState;
  /**
   * The person's access exceptions (store exceptionsInForce): a group the rules grant is
   * denied while one for it is in force, with the exception as the reason, and looked at
   * again when it ends.
   */
  exceptions?: readonly AccessException[];
  /**
   * The person's approved access requests that have not ended (store grantsInForce): each
   * grants its groups from its validFrom to its validUntil, with the request as the reason;
   * the class's sponsor requirement and the person's leave date still apply. Exceptions win
   * over them.
   */
  grants?: readonly RequestGrant[];
  /**
   * Access groups the person holds now (the lock systems' memberships, when the caller read
   * them). An invariant of the mappings refuses a grant that would break it, but a group held
   * already is kept and reported as a violation (policy/invariants.ts). Default: the groups of
   * `anchors` (what lockstep granted before).
   */
  held?: ReadonlySet<string>;
  /** maxHolders' counts, kept once per plan (policy/invariants.ts holderCounts). */
  holders?: HolderCounts;
}

export interface Denial {
  accessGroupId: string;
  /** The rule (or rules, comma-separated) that would grant it. */
  rule: string;
  reason: string;
  /** Set when an access exception denies it. */
  exception?: ExceptionRef;
  /** Set when an invariant of the mappings refuses it: the invariant's id. */
  invariant?: string;
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
  /** Held access kept although it breaks an invariant (absent: none): reported, never granted anew. */
  violations?: InvariantViolation[];
}

interface Bound {
  at: number;
  note: string;
}

/** The instant as its ISO form reads back (whole milliseconds), without the round trip when it is one already. */
function asStored(ms: number): number {
  return Number.isInteger(ms) ? ms : Date.parse(iso(ms));
}

/**
 * Instants repeat across a large estate (anchors written by one run, the same contract end
 * dates), and toISOString and Date.parse are a large share of evaluating 100k identities: the
 * process's memo of them (domain/time) remembers recent ones.
 */
const iso = isoOfMs;

/** An ISO date or date-time as epoch ms; NaN for anything else (open attributes hold anything). */
const parseInstant = isoInstantMs;

/**
 * Remembers a pure string -> number function's recent answers: the day bounds below, which
 * format as well as parse, for the same few dates (contract ends, hire and leave dates).
 */
function remembered(fn: (s: string) => number): (s: string) => number {
  const cache = new Map<string, number>();
  return (s) => {
    let v = cache.get(s);
    if (v === undefined) {
      v = fn(s);
      // room for every day of 40 years: hire dates of a large estate spread over decades
      if (cache.size >= 16_384) cache.clear();
      cache.set(s, v);
    }
    return v;
  };
}

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

function leaverReason(identity: Identity, _now: Date): string {
  if (identity.deletedAt) return `deleted at ${identity.deletedAt}`;
  if (!identity.active) return 'inactive';
  return `left on ${identity.leaveDate ?? '?'} (leaveDate)`;
}

/**
 * When pre-hire access begins: the start of the UTC day preHireDays before hireDate, or exactly
 * preHire (a duration) before it.
 */
function preHireStart(hireDate: string, preHire: PreHire): number | null {
  const t = startOfDay(hireDate) - preHire.ms;
  if (Number.isNaN(t)) return null;
  return preHire.wholeDays ? t - (((t % DAY) + DAY) % DAY) : t;
}

interface PathWindow {
  path: PathRef;
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
  | { at: number; kind: 'max'; max: CompiledDuration; src: LimitSource }
  | { at: number; kind: 'class'; max: CompiledDuration; cls: ProtectionClass }
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
    case 'max':
      return shared(maxNotes, b.src, anchor, () => `${originOf(b.src)} max ${b.max.text} from ${iso(anchor)}`);
    case 'class':
      return shared(classNotes, b.max, anchor, () => `class ${b.cls} max ${b.max.text} from ${iso(anchor)}`);
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
const maxNotes: NoteCache<LimitSource> = new WeakMap();
/** By the class's compiled maximum (one per class of a policy). */
const classNotes: NoteCache<CompiledDuration> = new WeakMap();

function shared<K>(cache: NoteCache<K>, key: K, anchor: number, make: () => string): string {
  let byAnchor = cache.get(key);
  if (byAnchor === undefined) cache.set(key, (byAnchor = new Map<number, string>()));
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

/** An attribute's value for one identity: from its view when one was built, else straight from the identity. */
function attributeOf(identity: Identity, view: FilterView | null, name: string): { key: string; value: unknown } | undefined {
  return view !== null ? lookupAttribute(view, name) : lookupIdentity(identity, nameOf(name));
}

function windowOf(
  path: PathRef,
  identity: Identity,
  view: FilterView | null,
  anchor: number,
  cls: ProtectionClass,
  policy: CompiledPolicy,
  leave: Bound | null,
): PathWindow {
  let min: LazyBound | null = null;
  for (const src of path.grant.limits) {
    if (src.limit.until !== undefined) {
      const found = attributeOf(identity, view, src.limit.until);
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
    if (src.max !== null) min = earlier(min, { at: anchor + src.max.ms, kind: 'max', max: src.max, src });
  }
  const classMax = policy.classes[cls].maxValidity;
  if (classMax !== null) min = earlier(min, { at: anchor + classMax.ms, kind: 'class', max: classMax, cls });
  if (leave !== null) min = earlier(min, { at: leave.at, kind: 'leave', note: leave.note });
  const chosen = min;
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
      index.open.push(i);
      return;
    }
    let e = index.byName.get(g.name);
    if (e === undefined) index.byName.set(g.name, (e = { byValue: new Map(), all: [] }));
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

/** One key of a reason's `matched`, as a memo entry writes it: a value shared by everyone with the entry's key, or this person's own. */
interface MatchedEntry {
  key: string;
  value: unknown;
  /** Set when the value is the person's own (an attribute the filter only tests for presence). */
  personal: AttributeName | null;
}

/** A rule that matched an identity. */
interface RuleMatch {
  rule: CompiledRule;
  /** Position in the policy's rules. */
  index: number;
  /** What reasons show as `matched`; null when it holds the person's own values (then see `template`). */
  matched: Record<string, unknown> | null;
  template: MatchedEntry[] | null;
  sourceRole: string | undefined;
  /** With a template: where the person's `matched` goes in Matches' personal records. */
  slot: number;
}

/** One way an identity reaches an access group: a matching rule, maybe through bundles. */
interface PathRef {
  match: RuleMatch;
  grant: CompiledGrant;
}

interface Reached {
  group: AccessGroup;
  /** In policy order of the rules, then of each rule's grants. */
  paths: PathRef[];
  /** The attributes the paths' limits end at (`until`), as written. */
  untils: string[];
  /**
   * In a memo entry: the group's answer by anchor for people whose own data sets no bound
   * (no future validFrom, leave date or `until` value, no values of their own in reasons),
   * which most people are; null elsewhere.
   */
  answers: Map<number, GroupAnswer> | null;
}

/** An entitlement to one group, as everyone with the same rules' answer and anchor gets it. */
interface GroupAnswer {
  reasons: Reason[];
  until: number | null;
  validUntil: string | null;
  exempt: boolean;
  /** The earliest end of any path's window: the answer holds while now is before it. */
  expires: number;
}

/** Answers kept per group of a memo entry (one per anchor; a converged estate has a few). */
const ANSWERS_MAX = 16;

/** What the rules give an identity, before anything that depends on the person's dates, sponsor or anchors. */
interface Matches {
  /** The access groups matching rules reach, in declaration order. */
  reached: Reached[];
  /** Matches whose `matched` is the person's own, by slot. */
  personal: RuleMatch[];
}

/** The identity's values of the attributes a filter references; for multi-valued ones, the values that matched. */
function matchedValues(attributes: string[], view: FilterView, hits: FilterHit[], presence: ReadonlyMap<string, boolean> | null): MatchedEntry[] {
  const out: MatchedEntry[] = [];
  for (const name of attributes) {
    const found = lookupAttribute(view, name);
    if (found === undefined) {
      out.push({ key: name, value: null, personal: null });
    } else if (Array.isArray(found.value)) {
      const matched = hits.filter((h) => h.key === found.key).map((h) => displayElement(h.element));
      // Without a positive match (a negation), the whole value shows why the filter held.
      out.push({ key: found.key, value: matched.length > 0 ? matched : found.value.map(displayElement), personal: null });
    } else if (presence !== null && typeof found.value === 'string' && presence.get(name.toLowerCase()) === true) {
      // a memo entry's key holds only whether this is empty: the value itself is the person's
      out.push({ key: found.key, value: undefined, personal: nameOf(name) });
    } else {
      out.push({ key: found.key, value: found.value ?? null, personal: null });
    }
  }
  return out;
}

function recordOf(entries: MatchedEntry[], identity: Identity, view: FilterView | null): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const e of entries) out[e.key] = e.personal === null ? e.value : (attributeOf(identity, view, e.personal.name)?.value ?? null);
  return out;
}

/**
 * The rules (those `use` accepts) that match the view, in policy order. With `presence` (a memo
 * entry is being made), a reason's `matched` keeps the values of presence-tested attributes out:
 * they are filled in per person.
 */
function matchView(policy: CompiledPolicy, view: FilterView, use: ((i: number) => boolean) | null, presence: ReadonlyMap<string, boolean> | null): RuleMatch[] {
  const out: RuleMatch[] = [];
  const memo: GuardMemo = new Map();
  for (const i of candidateRules(policy.rules, view, memo)) {
    if (use !== null && !use(i)) continue;
    const rule = policy.rules[i];
    if (ruledOut(rule.when, view, memo)) continue;
    const outcome = matchFilter(rule.when, view);
    if (!outcome.matched) continue;
    const entries = matchedValues(rule.when.attributes, view, outcome.hits, presence);
    const roles = outcome.hits.filter((h) => h.key === 'roles').map((h) => String(displayElement(h.element)));
    const personal = entries.some((e) => e.personal !== null);
    out.push({
      rule,
      index: i,
      // shared by every identity with the memo entry's key: a copy (nothing of this person's data
      // goes to the others), frozen so that nothing can change it for all of them
      matched: personal ? null : presence !== null ? deepFreeze(structuredClone(recordOf(entries, NO_IDENTITY, view))) : recordOf(entries, NO_IDENTITY, view),
      template: personal ? entries : null,
      sourceRole: roles.length > 0 ? roles.join(', ') : undefined,
      slot: -1,
    });
  }
  return out;
}

/** recordOf with a view reads nothing of the identity itself. */
const NO_IDENTITY = null as unknown as Identity;

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const k of Object.keys(v)) deepFreeze((v as Record<string, unknown>)[k]);
  }
  return v;
}

/** The access groups the matches reach, in declaration order, each with its paths in rule order. */
function reachedOf(matches: RuleMatch[], policy: CompiledPolicy, remember: boolean): Reached[] {
  const paths = new Map<string, PathRef[]>();
  for (const match of matches) {
    for (const grant of match.rule.grants) {
      const list = paths.get(grant.accessGroupId);
      if (list === undefined) paths.set(grant.accessGroupId, [{ match, grant }]);
      else list.push({ match, grant });
    }
  }
  // Declaration order keeps output stable and the way the mapping's authors think of it.
  const order = orderOf(policy.accessGroups);
  const reached: number[] = [];
  for (const id of paths.keys()) {
    const i = order.index.get(id);
    if (i !== undefined) reached.push(i);
  }
  if (reached.length > 1) reached.sort(ascending);
  return reached.map((i) => {
    const group = order.groups[i];
    const list = paths.get(group.id)!;
    const untils: string[] = [];
    for (const p of list)
      for (const src of p.grant.limits) if (src.limit.until !== undefined && !untils.includes(src.limit.until)) untils.push(src.limit.until);
    return { group, paths: list, untils, answers: remember ? new Map<number, GroupAnswer>() : null };
  });
}

const NO_MATCHES: RuleMatch[] = [];

function matchesOf(matches: RuleMatch[], policy: CompiledPolicy, remember: boolean): Matches {
  let personal = NO_MATCHES;
  for (const m of matches) {
    if (m.template === null) continue;
    if (personal === NO_MATCHES) personal = [];
    m.slot = personal.length;
    personal.push(m);
  }
  return { reached: reachedOf(matches, policy, remember), personal };
}

/** Two lists of matches in policy order, merged. */
function merge(a: RuleMatch[], b: RuleMatch[]): RuleMatch[] {
  if (b.length === 0) return a;
  if (a.length === 0) return b;
  const out: RuleMatch[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) out.push(j >= b.length || (i < a.length && a[i].index < b[j].index) ? a[i++] : b[j++]);
  return out;
}

export function evaluate(identity: Identity, policy: CompiledPolicy, opts: EvaluateOptions): Evaluation {
  return governed(identity, policy, opts, evaluateWith(identity, policy, opts, true));
}

/** evaluate without the rules' memo: every rule is tried on the identity itself. For tests and benchmarks. */
export function evaluateUnremembered(identity: Identity, policy: CompiledPolicy, opts: EvaluateOptions): Evaluation {
  return governed(identity, policy, opts, evaluateWith(identity, policy, opts, false));
}

/** The rules' answer with governance applied: requests' grants added, then exceptions' denials. */
function governed(identity: Identity, policy: CompiledPolicy, opts: EvaluateOptions, e: Evaluation): Evaluation {
  let out = e;
  if (opts.grants !== undefined && opts.grants.length > 0) out = applyGrants(identity, policy, opts, out);
  if (opts.exceptions !== undefined && opts.exceptions.length > 0) out = applyExceptions(out, opts.exceptions, opts.now);
  if (policy.invariants.list.length > 0)
    out = applyInvariants(out, identity, policy.invariants, {
      now: opts.now,
      held: opts.held,
      anchors: opts.anchors,
      holders: opts.holders,
      employeeTypes: policy.employeeTypes,
    });
  return out;
}

/**
 * Approved requests' groups as entitlements: valid until the request ends (or the person's
 * leave date, or their sponsor's, when earlier); a group the rules grant too ends at the later
 * of the two windows, with both reasons. A request not yet begun is looked at when it begins.
 */
function applyGrants(identity: Identity, policy: CompiledPolicy, opts: EvaluateOptions, e: Evaluation): Evaluation {
  if (e.leaver) return e;
  const now = opts.now.getTime();
  const employee = policy.employeeTypes.has((identity.employeeType ?? '').toLowerCase());
  const hasSponsor = typeof identity.sponsor === 'string' && identity.sponsor.trim() !== '';
  const leaveAt = identity.leaveDate ? endOfDay(identity.leaveDate) : Number.NaN;
  let sponsorship: Sponsorship | undefined;
  let next = e.nextCheckAt === null ? Infinity : Date.parse(e.nextCheckAt);
  let entitlements = e.entitlements;
  let denied = e.denied;
  for (const g of opts.grants ?? []) {
    const from = Date.parse(g.validFrom);
    const until = Date.parse(g.validUntil);
    if (!(until > now)) continue;
    if (from > now) {
      next = sooner(next, from, now);
      continue;
    }
    const rule = `request:${g.id}`;
    for (const groupId of g.groups) {
      const group = policy.accessGroups.get(groupId);
      if (group === undefined) {
        denied = [...denied, { accessGroupId: groupId, rule, reason: `access request ${g.id}: ${groupId} is no longer an access group of the mappings` }];
        continue;
      }
      const cls = group.protectionClass;
      let end = until;
      let endNote = `until ${g.validUntil} (access request ${g.id})`;
      if (!Number.isNaN(leaveAt) && leaveAt < end) {
        end = leaveAt;
        endNote = `leaveDate ${identity.leaveDate}`;
      }
      if (policy.classes[cls].sponsorRequired && !employee) {
        const refusal = !hasSponsor ? 'this identity has none' : (sponsorship ??= sponsorshipOf(identity, opts, now)).refusal;
        if (refusal !== null) {
          denied = [...denied, { accessGroupId: groupId, rule, reason: `class ${cls} requires an active sponsor for non-employees; ${refusal}` }];
          continue;
        }
        const sl = sponsorship?.leave ?? null;
        if (sl !== null && sl.at < end) {
          end = sl.at;
          endNote = sl.note;
        }
      }
      if (!(end > now)) continue;
      const reason: Reason = {
        rule,
        matched: {},
        notes: [
          `access request ${g.id} for ${g.kind === 'role' ? `role ${g.target}` : g.target}, approved${g.decidedBy ? ` by ${g.decidedBy}` : ''}: ${g.justification}`,
          endNote,
        ],
      };
      const i = entitlements.findIndex((x) => x.accessGroup.id === groupId);
      if (i >= 0) {
        const had = entitlements[i];
        const validUntil = had.validUntil === null ? null : iso(Math.max(Date.parse(had.validUntil), end));
        entitlements = entitlements.map((x, k) => (k === i ? { ...had, validFrom: null, validUntil, reasons: [...had.reasons, reason] } : x));
      } else {
        entitlements = [
          ...entitlements,
          { identityId: identity.id, accessGroup: group, validFrom: null, validUntil: iso(end), reasons: [reason], exemptFromUnusedExpiry: false },
        ];
      }
      // the rules' refusals of a group the request grants are beside the point now
      denied = denied.filter((d) => d.accessGroupId !== groupId || d.rule === rule);
      next = sooner(next, end, now);
    }
  }
  return { ...e, entitlements, denied, nextCheckAt: next === Infinity ? null : iso(next) };
}

function evaluateWith(identity: Identity, policy: CompiledPolicy, opts: EvaluateOptions, remember: boolean): Evaluation {
  const now = opts.now.getTime();
  if (isLeaver(identity, opts.now)) {
    return { leaver: true, leaverReason: leaverReason(identity, opts.now), entitlements: [], denied: [], nextCheckAt: null };
  }
  const memo = remember && plainIdentity(identity) ? ruleMemoOf(policy) : null;
  const key = memo === null || memo.off ? null : memoKey(memo, identity);
  if (memo !== null && key !== null) {
    memo.lookups++;
    const entry = memo.entries.get(key);
    if (entry !== undefined && memo.direct.size === 0) return entitle(identity, entry.result, null, policy, opts, now);
  }
  const view = identityView(identity);
  const unindex = indexRecord(view);
  try {
    if (memo === null || key === null) return entitle(identity, matchesOf(matchView(policy, view, null, null), policy, false), view, policy, opts, now);
    let entry = memo.entries.get(key);
    if (entry === undefined) {
      const direct = memo.direct;
      const matches = matchView(policy, view, direct.size === 0 ? null : (i) => !direct.has(i), memo.presence);
      entry = { matches, result: matchesOf(matches, policy, direct.size === 0), parts: memo.names.map((n, k) => keyPart(identity, n, memo.presenceOnly[k])!) };
      if (memo.entries.size >= RULE_MEMO_MAX) review(memo);
      // a review may have changed which rules are remembered: this entry is then not one to keep
      if (memo.direct === direct && !memo.off) memo.entries.set(key, entry);
      if (direct.size === 0) return entitle(identity, entry.result, view, policy, opts, now);
      const own = matchView(policy, view, (i) => direct.has(i), null);
      return entitle(identity, { reached: reachedOf(merge(entry.matches, own), policy, false), personal: entry.result.personal }, view, policy, opts, now);
    }
    const own = matchView(policy, view, (i) => memo.direct.has(i), null);
    return entitle(identity, { reached: reachedOf(merge(entry.matches, own), policy, false), personal: entry.result.personal }, view, policy, opts, now);
  } finally {
    unindex();
  }
}

const NO_RECORDS: Array<Record<string, unknown>> = [];

/** The per-person part of an evaluation: validity, sponsors, anchors, pre-hire and leave dates. */
function entitle(identity: Identity, matches: Matches, view: FilterView | null, policy: CompiledPolicy, opts: EvaluateOptions, now: number): Evaluation {
  const preHire = identity.hireDate ? preHireStart(identity.hireDate, policy.preHire) : null;
  const validFromMs = preHire !== null && preHire > now ? preHire : null;
  const leaveAt = identity.leaveDate ? endOfDay(identity.leaveDate) : Number.NaN;
  const leave: Bound | null = Number.isNaN(leaveAt) ? null : { at: leaveAt, note: `leaveDate ${identity.leaveDate}` };
  const employee = policy.employeeTypes.has((identity.employeeType ?? '').toLowerCase());
  const hasSponsor = typeof identity.sponsor === 'string' && identity.sponsor.trim() !== '';
  // what the sponsor's own state says, worked out when a group of a sponsorRequired class needs it
  let sponsorship: Sponsorship | undefined;
  const personal = matches.personal.length === 0 ? NO_RECORDS : matches.personal.map((m) => recordOf(m.template!, identity, view));
  // nothing of this person's own bounds a window or shows in reasons: groups' answers can be shared
  const plain = validFromMs === null && leave === null && personal === NO_RECORDS;

  const entitlements: Entitlement[] = [];
  const denied: Denial[] = [];
  // The earliest future instant at which the answer changes by time alone; each entitlement
  // adds its window's ends.
  let next = Infinity;
  if (preHire !== null) next = sooner(next, preHire, now);
  if (leave !== null) next = sooner(next, leave.at, now);

  for (const reached of matches.reached) {
    const group = reached.group;
    const granted = reached.paths;
    const cls = group.protectionClass;

    const sponsored = policy.classes[cls].sponsorRequired && !employee;
    if (sponsored && !hasSponsor) {
      const type = identity.employeeType ? `employeeType "${identity.employeeType}"` : 'no employeeType';
      const reason = `class ${cls} requires a sponsor for non-employees; this identity (${type}) has none`;
      denyPerRule(
        denied,
        group.id,
        granted.map((p) => ({ rule: p.match.rule.id, reason })),
      );
      continue;
    }
    // the person's own leave, or their sponsor's when that comes first (sponsored groups only)
    let groupLeave = leave;
    if (sponsored) {
      sponsorship ??= sponsorshipOf(identity, opts, now);
      if (sponsorship.refusal !== null) {
        const reason = `class ${cls} requires an active sponsor for non-employees; ${sponsorship.refusal}`;
        denyPerRule(
          denied,
          group.id,
          granted.map((p) => ({ rule: p.match.rule.id, reason })),
        );
        continue;
      }
      if (sponsorship.leave !== null && (leave === null || sponsorship.leave.at < leave.at)) groupLeave = sponsorship.leave;
    }

    let anchor = validFromMs ?? now;
    const given = opts.anchors?.[group.id];
    if (given !== undefined) {
      anchor = parseInstant(given);
      if (Number.isNaN(anchor)) {
        throw new LockstepError('validation', `anchor for access group ${group.id} is not an ISO date-time: ${JSON.stringify(given)}`, {
          field: `anchors.${group.id}`,
        });
      }
    }

    const shared = plain && groupLeave === null && reached.answers !== null && noBoundsOf(reached, identity, view) ? reached.answers : null;
    let answer = shared?.get(anchor);
    if (answer === undefined || !(answer.expires > now)) {
      const worked = answerOf(granted, identity, view, anchor, cls, policy, groupLeave, validFromMs, now, personal);
      if (Array.isArray(worked)) {
        denyPerRule(denied, group.id, worked);
        continue;
      }
      answer = worked;
      if (shared !== null && answer.expires > now) {
        if (shared.size >= ANSWERS_MAX) shared.clear();
        shared.set(anchor, freezeAnswer(answer));
      }
    }
    if (validFromMs !== null) next = sooner(next, asStored(validFromMs), now);
    if (answer.until !== null) next = sooner(next, asStored(answer.until), now);
    entitlements.push({
      identityId: identity.id,
      accessGroup: group,
      validFrom: validFromMs === null ? null : iso(validFromMs),
      validUntil: answer.validUntil,
      reasons: answer.reasons,
      exemptFromUnusedExpiry: answer.exempt,
    });
  }

  return {
    leaver: false,
    entitlements,
    denied,
    nextCheckAt: next === Infinity ? null : iso(next),
  };
}

/** What a sponsor's state means for the groups that need one: refused (and why), or until when. */
interface Sponsorship {
  refusal: string | null;
  /** The sponsor's future leaveDate: sponsored access ends then. */
  leave: Bound | null;
}

const UNCHECKED: Sponsorship = { refusal: null, leave: null };

/**
 * The sponsor is held to the same test as the person: a leaver (deleted, inactive or past the
 * leave date, as isLeaver decides) sponsors no one; a leave date still to come ends the
 * sponsored access on that date.
 */
function sponsorshipOf(identity: Identity, opts: EvaluateOptions, now: number): Sponsorship {
  const s = opts.sponsor;
  if (s === undefined) return UNCHECKED;
  const named = JSON.stringify(identity.sponsor?.trim() ?? '');
  if (!s.found) return { refusal: `sponsor ${named} is not a known identity`, leave: null };
  if (s.id === identity.id) return { refusal: `sponsor ${named} is this identity itself`, leave: null };
  if (isLeaver({ active: s.active, deletedAt: s.deletedAt, leaveDate: s.leaveDate ?? undefined }, opts.now)) {
    const refusal = s.deletedAt
      ? `sponsor ${s.userName} was deleted at source (${s.deletedAt})`
      : !s.active
        ? `sponsor ${s.userName} is inactive`
        : `sponsor ${s.userName} has left (leaveDate ${s.leaveDate})`;
    return { refusal, leave: null };
  }
  const at = s.leaveDate ? endOfDay(s.leaveDate) : Number.NaN;
  return { refusal: null, leave: Number.isNaN(at) || at <= now ? null : { at, note: `sponsor ${s.userName} leaves ${s.leaveDate} (leaveDate)` } };
}

/** The earlier of `next` and `t`, counting `t` only when it is in the future (NaN never is). */
function sooner(next: number, t: number, now: number): number {
  return t > now && t < next ? t : next;
}

/** True when none of the attributes the group's paths end at holds a value for this person (windowOf then reads nothing of theirs). */
function noBoundsOf(reached: Reached, identity: Identity, view: FilterView | null): boolean {
  for (const name of reached.untils) {
    const value = attributeOf(identity, view, name)?.value;
    if (value !== undefined && value !== null && value !== '') return false;
  }
  return true;
}

/** Shared by everyone with the same answer: frozen so that nothing can change it for all of them. */
function freezeAnswer(a: GroupAnswer): GroupAnswer {
  for (const r of a.reasons) {
    if (r.notes !== undefined) Object.freeze(r.notes);
    Object.freeze(r);
  }
  Object.freeze(a.reasons);
  return Object.freeze(a);
}

/** One group's entitlement from its paths, or why every path is refused. */
function answerOf(
  granted: PathRef[],
  identity: Identity,
  view: FilterView | null,
  anchor: number,
  cls: ProtectionClass,
  policy: CompiledPolicy,
  leave: Bound | null,
  validFromMs: number | null,
  now: number,
  personal: Array<Record<string, unknown>>,
): GroupAnswer | Array<{ rule: string; reason: string }> {
  const windows = granted.map((p) => windowOf(p, identity, view, anchor, cls, policy, leave));
  const problems: Array<{ rule: string; reason: string }> = [];
  let expires = Infinity;
  const live = windows.filter((w) => {
    if (w.invalid !== undefined) {
      problems.push({ rule: w.path.match.rule.id, reason: w.invalid });
      return false;
    }
    if (w.until !== null && w.until.at < expires) expires = w.until.at;
    if (w.until !== null && w.until.at <= now) {
      problems.push({ rule: w.path.match.rule.id, reason: `expired ${iso(w.until.at)}: ${w.until.note}` });
      return false;
    }
    if (w.until !== null && validFromMs !== null && w.until.at <= validFromMs) {
      problems.push({
        rule: w.path.match.rule.id,
        reason: `empty validity window: would start ${iso(validFromMs)} and end ${iso(w.until.at)} (${w.until.note})`,
      });
      return false;
    }
    return true;
  });
  if (live.length === 0) return problems;

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
    validFromMs !== null
      ? `from ${iso(validFromMs)}: hireDate ${identity.hireDate} less ${policy.preHire.wholeDays ? `${policy.lifecycle.preHireDays ?? 0} pre-hire days` : `${policy.preHire.text} pre-hire`}`
      : undefined;
  const reasons: Reason[] = [];
  for (const w of live) {
    const m = w.path.match;
    // Built key by key (not with spreads, which cost more than the rest of it): the key
    // order is the one the audit log and plans have always shown.
    const r = { rule: m.rule.id } as Reason;
    if (w.path.grant.role !== undefined) r.role = w.path.grant.role;
    if (w.path.grant.roleChain !== undefined) r.roleChain = w.path.grant.roleChain;
    if (m.sourceRole !== undefined) r.sourceRole = m.sourceRole;
    r.matched = m.matched ?? personal[m.slot];
    if (w.until || fromNote) {
      const notes: string[] = [];
      if (w.until) notes.push(w.until.note);
      if (fromNote) notes.push(fromNote);
      r.notes = notes;
    }
    reasons.push(r);
  }
  return {
    reasons,
    until,
    validUntil: until === null ? null : iso(until),
    exempt: live.some((w) => w.path.match.rule.exemptFromUnusedExpiry),
    expires,
  };
}

function formatValue(v: unknown): string {
  if (Array.isArray(v) && v.length === 1) return JSON.stringify(v[0]);
  return JSON.stringify(v) ?? 'null';
}

function reasonText(r: Reason): string {
  if (r.rule.startsWith('request:')) return `access request ${r.rule.slice('request:'.length)}`;
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
  for (const d of evaluation.denied)
    lines.push(
      d.exception || d.invariant
        ? `! ${d.accessGroupId} ${d.reason} (granted by rule ${d.rule} otherwise)`
        : `! ${d.accessGroupId} denied (rule ${d.rule}): ${d.reason}`,
    );
  for (const v of evaluation.violations ?? []) lines.push(`!! VIOLATION of invariant ${v.invariant}: ${v.message} (held: kept and reported, not granted anew)`);
  if (evaluation.entitlements.length === 0 && evaluation.denied.length === 0) lines.push('no access groups');
  if (evaluation.nextCheckAt !== null) lines.push(`next check at ${evaluation.nextCheckAt}`);
  return lines;
}

/** The rules' memo of a policy as it stands, for tests and benchmarks. */
export function ruleMemoStats(policy: CompiledPolicy): {
  entries: number;
  lookups: number;
  remembered: number;
  perPerson: string[];
  off: boolean;
  names: string[];
} {
  const memo = ruleMemoOf(policy);
  return {
    entries: memo.entries.size,
    lookups: memo.lookups,
    remembered: memo.rules.length - memo.direct.size,
    perPerson: [...memo.direct].map((i) => memo.rules[i].id),
    off: memo.off,
    names: memo.names.map((n) => n.name),
  };
}
