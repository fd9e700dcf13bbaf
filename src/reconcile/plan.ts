import type { Identity } from '../domain/identity.js';
import { LockstepError } from '../domain/errors.js';
import { summarize, type CorrelationConflict, type InvariantViolation, type Plan } from '../domain/plan.js';
import { isoOfMs } from '../domain/time.js';
import type { Evaluation } from '../policy/evaluate.js';
import { evaluateRemembered } from '../policy/evaluation-memo.js';
import { heldViolations, holderCounts, overHolders, type HolderCounts } from '../policy/invariants.js';
import { holderCountsOf } from '../store/invariants.js';
import type { SponsorState } from '../domain/sponsor.js';
import { loadIdentityScope, loadIdentityStamps, type IdentityStampPage } from '../store/links.js';
import { allCorrelationConflicts } from '../store/correlation.js';
import { identitiesOf } from './identity-cache.js';
import { conflictText, loadConflicts, withConflict } from './conflicts.js';
import type { KeyHolder } from '../store/correlation.js';
import { allSponsors, loadSponsorStates } from './sponsors.js';
import { governanceInForce, type GovernanceInForce } from '../store/requests.js';
import type { AccessException, RequestGrant } from '../domain/governance.js';
import { diffIdentity, heldGroupsOf, planOrphan, PlanBuilder } from './diff.js';
import { observeAccounts, observedSystems, observeSystem, observeUnowned, shadowedDeleted, type ObservedSystem, type SystemState } from './observe.js';
import type { EngineContext, Scope } from './types.js';

/**
 * Plan: one function per scope (these identities, everyone, one system's orphans), each
 * composing observe (what is: the store and the lock systems), evaluate (what should be: the
 * policy) and diff (the operations between them). Reads only; nothing is changed.
 */

const isoOf = isoOfMs;

/** Per identity, what the plan decided it is entitled to: the executor stores anchors from it. */
export interface PlannedIdentity {
  identity: Identity;
  evaluation: Evaluation;
  anchors: Record<string, string>;
  /** Its externalId is not its alone (reconcile/conflicts.ts): no access, no account by that key. */
  conflict?: CorrelationConflict;
}

/** A scope's plan, with what applying it needs besides the operations. */
export interface ScopePlan {
  plan: Plan;
  /** Identities (and orphan accounts) in scope, for the guard's percentage. */
  scopeSize: number;
  /** Each planned identity's next look (null: time alone will not change it). */
  nextCheckAtByIdentity: Record<string, string | null>;
  /** The identities whose anchors no longer match their entitlements (stored after a run). */
  anchorChanges: AnchorChange[];
}

/** A scope's plan with every identity's evaluation kept (explain, tests): buildPlan's. */
export interface BuiltPlan extends ScopePlan {
  identities: PlannedIdentity[];
}

/**
 * What a plan checks the invariants with: the people held access is reported for, and the
 * maxHolders counts (lockstep's record of holders, read once per plan; every admitted new grant
 * adds one). Null when the mappings have no invariants: then none of it costs anything.
 */
interface InvariantCheck {
  holders: HolderCounts | undefined;
  violations: InvariantViolation[];
  /** Actual holders per counted group (full plans). */
  heldCounts: Map<string, number>;
}

async function invariantCheck(ctx: EngineContext): Promise<InvariantCheck | null> {
  const inv = ctx.policy.invariants;
  if (inv.list.length === 0) return null;
  const holders = inv.counted.size > 0 ? holderCounts(await holderCountsOf(ctx.db, [...inv.counted])) : undefined;
  return { holders, violations: [], heldCounts: new Map() };
}

/** One person's held access against the invariants (after their diff in every system). */
function checkHeld(ctx: EngineContext, check: InvariantCheck, p: PlannedIdentity, held: Set<string>, now: Date): void {
  if (p.evaluation.leaver || held.size === 0) return;
  const inv = ctx.policy.invariants;
  for (const v of heldViolations(p.identity, held, p.evaluation.entitlements, inv, ctx.policy.employeeTypes, now)) check.violations.push(v);
  if (inv.counted.size > 0) for (const g of held) if (inv.counted.has(g)) check.heldCounts.set(g, (check.heldCounts.get(g) ?? 0) + 1);
}

/** Identities evaluated between two turns of the event loop. */
const EVALUATION_SLICE = 250;

async function evaluateWith(
  ctx: EngineContext,
  identities: Identity[],
  anchors: Map<string, Record<string, string>>,
  now: Date,
  knownConflicts?: Map<string, KeyHolder[]>,
  knownGovernance?: GovernanceInForce,
  holders?: HolderCounts,
): Promise<PlannedIdentity[]> {
  const [sponsors, conflicts, governance] = await Promise.all([
    loadSponsorStates(ctx, identities, now),
    loadConflicts(ctx, identities, knownConflicts),
    knownGovernance ??
      governanceInForce(
        ctx.db,
        identities.map((i) => i.id),
        now,
      ),
  ]);
  return identities.map((identity) => planned(ctx, identity, anchors.get(identity.id) ?? {}, now, sponsors, conflicts, governance, holders));
}

function planned(
  ctx: EngineContext,
  identity: Identity,
  a: Record<string, string>,
  now: Date,
  sponsors: Map<string, SponsorState>,
  conflicts: Map<string, CorrelationConflict>,
  governance: { exceptions: Map<string, AccessException[]>; grants: Map<string, RequestGrant[]> },
  holders?: HolderCounts,
): PlannedIdentity {
  // access exceptions and requests' grants: a page without any costs two empty-map lookups per identity
  const { exceptions, grants } = governance;
  // an unchanged person's evaluation is the one the last plan made (policy/evaluation-memo.ts)
  const evaluation = evaluateRemembered(identity, ctx.policy, {
    now,
    anchors: a,
    sponsor: sponsors.get(identity.id),
    exceptions: exceptions.size ? exceptions.get(identity.id) : undefined,
    grants: grants.size ? grants.get(identity.id) : undefined,
    ...(holders !== undefined ? { holders } : {}),
  });
  // a page without conflicts (the usual estate) costs one empty-map lookup per identity
  const conflict = conflicts.size ? conflicts.get(identity.id) : undefined;
  return conflict ? { identity, anchors: a, evaluation: withConflict(evaluation, conflict), conflict } : { identity, anchors: a, evaluation };
}

/**
 * Every identity (deleted ones too), evaluated in id order and handed to `onSlice` a few hundred
 * at a time. The next page is read from the store while the current one is evaluated, so the
 * store's latency hides behind the CPU work; between slices the event loop runs (reads going on
 * alongside keep moving), and a slice's evaluations can be dropped as soon as it is diffed,
 * while they are still young: the garbage collector never has to copy them.
 */
async function evaluateEveryone(ctx: EngineContext, now: Date, onSlice: (ps: PlannedIdentity[]) => void, holders?: HolderCounts): Promise<void> {
  const pageSize = 5000;
  // correlation conflicts and sponsors, once for everyone (in the usual estate, no conflict)
  const [known, sponsorsOfAll] = await Promise.all([allCorrelationConflicts(ctx.db), allSponsors(ctx)]);
  // a page's stamps, anchors and governance in one statement, then the identities whose version
  // moved since this process last read them (store/links.ts, identity-cache.ts)
  type Page = IdentityStampPage & { identities: Identity[]; sponsors: Map<string, SponsorState>; conflicts: Map<string, CorrelationConflict> };
  const read = async (afterId: string | null): Promise<Page> => {
    const page = await loadIdentityStamps(ctx.db, afterId, pageSize, now);
    const identities = await identitiesOf(ctx.db, page.stamps, afterId);
    const [sponsors, conflicts] = await Promise.all([loadSponsorStates(ctx, identities, now, sponsorsOfAll), loadConflicts(ctx, identities, known)]);
    return { ...page, identities, sponsors, conflicts };
  };
  let next: Promise<Page> | null = read(null);
  while (next) {
    const loaded: Page = await next;
    const { stamps, identities: page, anchors, governance, sponsors, conflicts } = loaded;
    if (stamps.length === 0) break;
    next = stamps.length < pageSize ? null : read(stamps[stamps.length - 1].id);
    // an unobserved rejection of the prefetch would crash the process; it is awaited next turn
    next?.catch(() => undefined);
    for (let i = 0; i < page.length; i += EVALUATION_SLICE) {
      if (i > 0) await new Promise<void>((resolve) => setImmediate(resolve));
      onSlice(
        page
          .slice(i, i + EVALUATION_SLICE)
          .map((identity) => planned(ctx, identity, anchors.get(identity.id) ?? {}, now, sponsors, conflicts, governance, holders)),
      );
    }
  }
}

/**
 * Builds the plan for a scope: reads identities from the store and actual state from every
 * lock system, evaluates the policy and diffs. Reads only; nothing is changed.
 */
export async function buildPlan(ctx: EngineContext, scope: Scope): Promise<BuiltPlan> {
  const { built, planned } = await planScope(ctx, scope, true);
  return { ...built, identities: planned };
}

/**
 * What storing anchors after a run needs of one identity whose anchors no longer match its
 * entitlements (identities whose anchors match need nothing, and are not listed).
 */
export interface AnchorChange {
  identityId: string;
  entitled: Array<{ accessGroupId: string; validFrom: string | null }>;
}

/**
 * As buildPlan, for runReconcile: the same plan, but each identity's evaluation is dropped once
 * it has been diffed, keeping only what storing anchors needs. A full run of 100k identities
 * then holds the accounts and a page of evaluations at a time rather than 100k evaluations
 * (about 3 KB each) until it ends: less memory, and far less for the garbage collector to copy.
 */
export async function buildRunPlan(ctx: EngineContext, scope: Scope): Promise<ScopePlan> {
  const { built } = await planScope(ctx, scope, false);
  return built;
}

function anchorChange(p: PlannedIdentity): AnchorChange | null {
  // one entitlement per group and one anchor per group: the same sets when the sizes agree and
  // every entitled group has an anchor (no need to sort both lists for every identity)
  const entitled = p.evaluation.entitlements;
  let same = entitled.length === Object.keys(p.anchors).length;
  for (let i = 0; same && i < entitled.length; i++) same = Object.hasOwn(p.anchors, entitled[i].accessGroup.id);
  if (same) return null;
  return { identityId: p.identity.id, entitled: p.evaluation.entitlements.map((e) => ({ accessGroupId: e.accessGroup.id, validFrom: e.validFrom })) };
}

/** What the three scopes share while planning: the plan being built and what the run needs of each identity. */
class ScopePlanning {
  readonly b = new PlanBuilder();
  readonly planned: PlannedIdentity[] = [];
  readonly anchorChanges: AnchorChange[] = [];
  /** Each planned identity's next look, in plan order. */
  readonly nextCheckAtByIdentity: Record<string, string | null> = {};
  readonly conflicts: CorrelationConflict[] = [];
  identities = 0;
  scopeSize = 0;

  constructor(
    readonly ctx: EngineContext,
    readonly now: Date,
    readonly systems: ObservedSystem[],
    readonly check: InvariantCheck | null,
    private readonly retain: boolean,
  ) {}

  /**
   * After an identity's diff (in every system: nothing changes its next look after this): what
   * the run needs of it later, and (unless the caller wants them) nothing else, so its
   * evaluation can go.
   */
  done(p: PlannedIdentity): void {
    this.identities++;
    if (p.conflict) {
      this.conflicts.push(p.conflict);
      this.b.warnings.push(`${p.identity.userName} (${p.identity.id}): ${conflictText(p.conflict)}`);
    }
    const id = p.identity.id;
    this.b.checkAt(p.evaluation.nextCheckAt, id);
    const t = this.b.nextOf(id);
    this.nextCheckAtByIdentity[id] = t === undefined ? null : isoOf(t);
    const change = anchorChange(p);
    if (change) this.anchorChanges.push(change);
    if (this.retain) this.planned.push(p);
  }

  result(scope: Scope): { built: ScopePlan; planned: PlannedIdentity[] } {
    const { b, check, conflicts } = this;
    const plan: Plan = {
      createdAt: this.now.toISOString(),
      scope: scope.kind === 'full' ? 'full' : 'identities',
      identities: this.identities,
      operations: b.ops,
      summary: summarize(b.ops),
      warnings: b.warnings,
      ...(conflicts.length ? { conflicts } : {}),
      ...(check?.violations.length ? { violations: check.violations } : {}),
      nextCheckAt: b.nextCheckAt === null ? null : new Date(b.nextCheckAt).toISOString(),
    };
    return {
      built: { plan, scopeSize: this.scopeSize, nextCheckAtByIdentity: this.nextCheckAtByIdentity, anchorChanges: this.anchorChanges },
      planned: this.planned,
    };
  }
}

async function planScope(ctx: EngineContext, scope: Scope, retain: boolean): Promise<{ built: ScopePlan; planned: PlannedIdentity[] }> {
  const check = scope.kind === 'orphans' ? null : await invariantCheck(ctx);
  const s = new ScopePlanning(ctx, ctx.now(), observedSystems(ctx), check, retain);
  if (scope.kind === 'identities') await planIdentities(s, scope.ids);
  else if (scope.kind === 'full') await planFull(s);
  else await planOrphans(s, scope.system);
  return s.result(scope);
}

/** These identities: each one's account looked up in every system (by link, else by key), and diffed. */
async function planIdentities(s: ScopePlanning, scopeIds: string[]): Promise<void> {
  const { ctx, b, now, check } = s;
  const nowMs = now.getTime();
  const ids = [...new Set(scopeIds)];
  // identities, anchors and links in one round trip: the queue runs this for every joiner,
  // mover and leaver
  const { identities, anchors, links, conflicts, governance } = await loadIdentityScope(ctx.db, ids, now);
  const ps = await evaluateWith(ctx, identities, anchors, now, conflicts, governance, check?.holders);
  const heldBy = check ? ps.map(() => new Set<string>()) : null;
  s.scopeSize = ps.length;
  // deleted people whose key a live person holds: that key's account is the live one's
  const shadowed = await shadowedDeleted(
    ctx,
    ps.filter((p) => p.identity.deletedAt).map((p) => p.identity.id),
  );
  // a conflicted identity is diffed only against the account it is linked to, never the contested key's;
  // so is a deleted one whose key a live person holds
  const people = ps.map((p) => ({ identityId: p.identity.id, externalId: p.identity.externalId, byKey: !p.conflict && !shadowed.has(p.identity.id) }));
  for (const sys of s.systems) {
    const linkOf = new Map(links.filter((l) => l.system === sys.name).map((l) => [l.identityId, l]));
    const { accounts, usage } = await observeAccounts(ctx, sys, people, linkOf);
    ps.forEach((p, i) => {
      const mark = b.ops.length;
      diffIdentity(b, ctx.policy, sys, p, accounts[i], linkOf.get(p.identity.id), usage, now);
      if (heldBy) heldGroupsOf(sys, accounts[i], nowMs, heldBy[i], b.ops, mark);
    });
  }
  if (check && heldBy) ps.forEach((p, i) => checkHeld(ctx, check, p, heldBy[i], now));
  ps.forEach((p) => s.done(p));
}

/**
 * Everyone against every lock system's accounts, read once, page by page; the accounts nobody
 * claimed are orphans.
 */
async function planFull(s: ScopePlanning): Promise<void> {
  const { ctx, b, now, check, systems } = s;
  const nowMs = now.getTime();
  // The lock systems (over HTTP) are read while identities are read and evaluated, so the
  // waits overlap instead of adding up. Slices evaluated before the accounts have arrived wait
  // for them; after that each slice is diffed as soon as it is evaluated. Slices are diffed in
  // id order either way, so the plan is the same as reading one thing after the other.
  let accountsBySystem: Map<string, SystemState> | null = null;
  let readFailed = false;
  // deleted people whose key a live person holds never take that key's account
  const shadowed = await shadowedDeleted(ctx);
  const reading = Promise.all(systems.map(async (sys) => [sys.name, await observeSystem(ctx, sys)] as const)).then(
    (states) => {
      accountsBySystem = new Map(states);
    },
    (e: unknown) => {
      readFailed = true;
      throw e;
    },
  );
  // an unobserved rejection would crash the process; it is awaited below
  reading.catch(() => undefined);
  const waiting: PlannedIdentity[][] = [];
  const diffPage = (ps: PlannedIdentity[], states: Map<string, SystemState>): void => {
    for (const p of ps) {
      if (!p.identity.deletedAt) s.scopeSize++;
      b.begin(p.identity.id);
      const held = check ? new Set<string>() : null;
      for (const sys of systems) {
        const st = states.get(sys.name)!;
        const link = st.links.get(p.identity.id);
        let account = (link ? st.byId.get(link.accountId) : undefined) ?? null;
        if (p.conflict) {
          // the contested key's account is no one's to diff, and not an orphan either
          const contested = st.byKey.get(p.identity.externalId);
          if (contested) st.claimed.add(contested.id);
        } else if (!shadowed.has(p.identity.id)) account ??= st.byKey.get(p.identity.externalId) ?? null;
        if (account) st.claimed.add(account.id);
        const mark = b.ops.length;
        diffIdentity(b, ctx.policy, sys, p, account, link, st.usage, now);
        if (held) heldGroupsOf(sys, account, nowMs, held, b.ops, mark);
      }
      if (check && held) checkHeld(ctx, check, p, held, now);
      s.done(p);
    }
  };
  try {
    await evaluateEveryone(
      ctx,
      now,
      (ps) => {
        // a lock system that cannot be read fails the plan: stop evaluating (its error is thrown below)
        if (readFailed) throw new LockstepError('unavailable', 'the lock systems could not be read');
        const states = accountsBySystem;
        if (states === null) {
          waiting.push(ps);
          return;
        }
        for (let w = waiting.shift(); w; w = waiting.shift()) diffPage(w, states);
        diffPage(ps, states);
      },
      check?.holders,
    );
  } finally {
    // settle the lock systems' read either way; its failure wins, as it did when it came first
    await reading;
  }
  const states = accountsBySystem as Map<string, SystemState> | null;
  if (states === null) throw new LockstepError('internal', 'the lock systems were read but their accounts are missing');
  for (let w = waiting.shift(); w; w = waiting.shift()) diffPage(w, states);
  for (const sys of systems) {
    const st = states.get(sys.name)!;
    for (const a of st.byId.values()) {
      if (st.claimed.has(a.id)) continue;
      s.scopeSize++;
      planOrphan(b, ctx.policy, sys, a);
    }
  }
  // at most N holders: counted over everyone, once per plan
  if (check) for (const v of overHolders(check.heldCounts, ctx.policy.invariants)) check.violations.push(v);
}

/** Accounts in one system that no identity owns. */
async function planOrphans(s: ScopePlanning, system: string): Promise<void> {
  const sys = s.systems.find((x) => x.name === system);
  if (!sys) return;
  for (const a of await observeUnowned(s.ctx, sys)) {
    s.scopeSize++;
    planOrphan(s.b, s.ctx.policy, sys, a);
  }
}
