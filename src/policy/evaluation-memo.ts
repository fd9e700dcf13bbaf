import type { Identity } from '../domain/identity.js';
import type { SponsorState } from '../domain/sponsor.js';
import { parseMs } from '../domain/time.js';
import type { CompiledPolicy } from './compile.js';
import { evaluate, type EvaluateOptions, type Evaluation } from './evaluate.js';

/**
 * Each identity's last evaluation, kept per compiled mappings (a new version of the mappings is
 * a new CompiledPolicy, and starts with nothing remembered) and keyed by the identity's inputs:
 * its stored version (every write to an identity bumps it and its updatedAt), its anchors and
 * its sponsor's state. A full run of an unchanged estate then evaluates nobody again.
 *
 * An evaluation is reused only while it cannot have changed by time alone: from the instant it
 * was made until its nextCheckAt (the evaluator's own promise: "the earliest future instant at
 * which the result changes by time alone"), and only when nothing in it counts from `now`
 * itself (an entitlement without an anchor has its window counted from now; it is evaluated
 * afresh until the run that grants it stores the anchor). Inputs the memo does not compare are
 * never remembered: access exceptions, requests' grants, held groups and maxHolders' counts
 * (those evaluations are made every time, as before).
 *
 * The evaluations handed out are shared: callers must not change them (none does: conflicts,
 * invariants and governance build new objects).
 */

/** Identities remembered per mappings version; past it the memo starts over (a bigger estate still works, unremembered). */
const EVALUATION_MEMO_MAX = 250_000;

interface Remembered {
  version: number;
  updatedAt: string;
  deletedAt: string | null;
  active: boolean;
  anchors: Record<string, string> | undefined;
  sponsor: SponsorState | undefined;
  /** The instant it was evaluated at, and the instant it stops holding (ms). */
  from: number;
  until: number;
  evaluation: Evaluation;
}

const memos = new WeakMap<CompiledPolicy, Map<string, Remembered>>();

/** What the memo saw: hits (evaluations reused) and misses (evaluated), for benchmarks and tests. */
export const evaluationMemoStats = { hits: 0, misses: 0 };

/** evaluate, reusing the identity's last evaluation when none of its inputs has changed since. */
export function evaluateRemembered(identity: Identity, policy: CompiledPolicy, opts: EvaluateOptions): Evaluation {
  if (!rememberable(identity, opts)) return evaluate(identity, policy, opts);
  const now = opts.now.getTime();
  let memo = memos.get(policy);
  const last = memo?.get(identity.id);
  if (last !== undefined && sameInputs(last, identity, opts, now)) {
    evaluationMemoStats.hits++;
    return last.evaluation;
  }
  evaluationMemoStats.misses++;
  const evaluation = evaluate(identity, policy, opts);
  if (!countsFromNow(evaluation, opts.anchors)) {
    if (memo === undefined) memos.set(policy, (memo = new Map<string, Remembered>()));
    else if (memo.size >= EVALUATION_MEMO_MAX && last === undefined) memo.clear();
    memo.set(identity.id, {
      version: identity.version,
      updatedAt: identity.updatedAt,
      deletedAt: identity.deletedAt ?? null,
      active: identity.active,
      anchors: opts.anchors,
      sponsor: opts.sponsor,
      from: now,
      until: evaluation.nextCheckAt === null ? Infinity : parseMs(evaluation.nextCheckAt),
      evaluation,
    });
  } else if (last !== undefined) memo!.delete(identity.id);
  return evaluation;
}

function rememberable(identity: Identity, opts: EvaluateOptions): boolean {
  return (
    Number.isFinite(identity.version) &&
    typeof identity.updatedAt === 'string' &&
    opts.held === undefined &&
    opts.holders === undefined &&
    (opts.exceptions === undefined || opts.exceptions.length === 0) &&
    (opts.grants === undefined || opts.grants.length === 0)
  );
}

function sameInputs(r: Remembered, identity: Identity, opts: EvaluateOptions, now: number): boolean {
  return (
    now >= r.from &&
    now < r.until &&
    r.version === identity.version &&
    r.updatedAt === identity.updatedAt &&
    r.deletedAt === (identity.deletedAt ?? null) &&
    r.active === identity.active &&
    sameAnchors(r.anchors, opts.anchors) &&
    sameSponsor(r.sponsor, opts.sponsor)
  );
}

function sameAnchors(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  if (a === b) return true;
  const ak = a === undefined ? [] : Object.keys(a);
  const bk = b === undefined ? [] : Object.keys(b);
  if (ak.length !== bk.length) return false;
  for (const k of ak) if (b![k] !== a![k]) return false;
  return true;
}

function sameSponsor(a: SponsorState | undefined, b: SponsorState | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a.found !== b.found) return false;
  if (!a.found || !b.found) return true;
  return a.id === b.id && a.userName === b.userName && a.active === b.active && a.deletedAt === b.deletedAt && a.leaveDate === b.leaveDate;
}

/**
 * An entitlement without an anchor (and not a pre-hire one, which counts from its start) has its
 * window counted from the evaluation's `now`: evaluated a moment later, it would end a moment later.
 */
function countsFromNow(e: Evaluation, anchors: Record<string, string> | undefined): boolean {
  for (const x of e.entitlements) if (x.validFrom === null && (anchors === undefined || !Object.hasOwn(anchors, x.accessGroup.id))) return true;
  return false;
}
