import { deletedShadowedByLive } from '../store/correlation.js';
import { fitAccountFields } from '../drivers/fit.js';
import type { Account, AccessGroup, Credential, Entitlement, Membership, Validity } from '../domain/access.js';
import { LockstepError } from '../domain/errors.js';
import type { Identity } from '../domain/identity.js';
import { summarize, type CorrelationConflict, type InvariantViolation, type Operation, type OperationReason, type Plan } from '../domain/plan.js';
import { isoOfMs, parseMs } from '../domain/time.js';
import { canSetCredentialState, type DriverCapabilities, type LockDriver } from '../drivers/contract.js';
import { mapLimit } from '../drivers/util.js';
import type { CompiledDuration, CompiledPolicy } from '../policy/compile.js';
import { evaluate, type Evaluation } from '../policy/evaluate.js';
import { heldViolations, holderCounts, overHolders, type HolderCounts } from '../policy/invariants.js';
import { holderCountsOf } from '../store/invariants.js';
import type { SponsorState } from '../domain/sponsor.js';
import { knownExternalIds, listIdentities } from '../store/identities.js';
import { credentialFacts, credentialFactsFor, listLinks, loadAnchors, loadIdentityScope, noCredentialFacts, type CredentialFacts, type Link } from '../store/links.js';
import { conflictText, loadConflicts, withConflict } from './conflicts.js';
import type { KeyHolder } from '../store/correlation.js';
import { loadSponsorStates } from './sponsors.js';
import { governanceInForce, type GovernanceInForce } from '../store/requests.js';
import type { AccessException, RequestGrant } from '../domain/governance.js';
import type { EngineContext, Scope } from './types.js';

/** Per identity, what the plan decided it is entitled to: the executor stores anchors from it. */
export interface PlannedIdentity {
  identity: Identity;
  evaluation: Evaluation;
  anchors: Record<string, string>;
  /** Its externalId is not its alone (reconcile/conflicts.ts): no access, no account by that key. */
  conflict?: CorrelationConflict;
}

export interface BuiltPlan {
  plan: Plan;
  identities: PlannedIdentity[];
  /** Identities (and orphan accounts) in scope, for the guard's percentage. */
  scopeSize: number;
  /** Each planned identity's next look (null: time alone will not change it). */
  nextCheckAtByIdentity: Record<string, string | null>;
}

/** Validity instants differ when they are more than a second apart (systems round to seconds). */
function sameInstant(a: string | null | undefined, b: string | null | undefined): boolean {
  if (!a || !b) return !a && !b;
  // the common case in a converged estate, at half the parsing (an unreadable pair stays unequal)
  if (a === b) return !Number.isNaN(parseInstant(a));
  return Math.abs(parseInstant(a) - parseInstant(b)) < 1000;
}

/**
 * Date.parse and toISOString, remembered (domain/time): a full run compares and writes the
 * same few validity instants (one run's anchors plus the class maxima) hundreds of thousands of times.
 */
const parseInstant = parseMs;
const isoOf = isoOfMs;

function validityOf(e: Entitlement): Validity {
  return { from: e.validFrom, until: e.validUntil };
}

function fmt(v: Validity): string {
  const parts = [];
  if (v.from) parts.push(`from ${v.from}`);
  if (v.until) parts.push(`until ${v.until}`);
  return parts.length ? parts.join(' ') : 'no time limit';
}

function ruleText(e: Entitlement): string {
  return e.reasons
    .map((r) => {
      // an approved access request (policy/evaluate.ts applyGrants): its first note says which, by whom, why
      if (r.rule.startsWith('request:')) return r.notes?.[0] ?? `access request ${r.rule.slice('request:'.length)}`;
      const via = r.role ? ` via role ${r.roleChain?.length ? r.roleChain.join(' > ') : r.role}` : '';
      const matched = Object.entries(r.matched)
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .join(', ');
      return `rule ${r.rule}${via}${matched ? ` (${matched})` : ''}`;
    })
    .join('; ');
}

interface SystemView {
  name: string;
  driver: LockDriver;
  caps: DriverCapabilities;
  /** Access groups the mappings declare in this system, by ref: the only groups lockstep touches. */
  managed: Map<string, AccessGroup>;
}

function systemViews(ctx: EngineContext): SystemView[] {
  const out: SystemView[] = [];
  for (const [name, driver] of ctx.drivers) {
    const managed = new Map<string, AccessGroup>();
    for (const g of ctx.policy.accessGroups.values()) if (g.system === name) managed.set(g.ref, g);
    out.push({ name, driver, caps: driver.capabilities, managed });
  }
  return out;
}

function groupOf(g: AccessGroup) {
  return { id: g.id, ref: g.ref, name: g.name, protectionClass: g.protectionClass };
}

class PlanBuilder {
  readonly ops: Operation[] = [];
  readonly warnings: string[] = [];
  private readonly keys = new Set<string>();
  nextCheckAt: number | null = null;
  /** Each identity's own earliest next look, for the queue's delayed wake-ups. */
  private readonly nextByIdentity = new Map<string, number>();
  /**
   * The identity being diffed, whose next look is kept here rather than in the map: a full
   * run diffs one identity at a time, and 100k map entries cost more than the rest of it.
   */
  private current: string | null = null;
  private currentNext: number | undefined;

  add(op: Omit<Operation, 'key'> & { key?: string }): void {
    const key = op.key ?? [op.system, op.kind, op.accountId ?? `new:${op.externalId}`, op.group?.ref ?? op.credentialId ?? ''].join('|');
    if (this.keys.has(key)) return;
    this.keys.add(key);
    this.ops.push({ ...op, key } as Operation);
  }

  checkAt(iso: string | null | undefined, identityId?: string): void {
    if (!iso) return;
    this.checkAtMs(parseInstant(iso), identityId);
  }

  /** As checkAt, for an instant already in milliseconds. */
  checkAtMs(t: number, identityId?: string): void {
    if (this.nextCheckAt === null || t < this.nextCheckAt) this.nextCheckAt = t;
    if (identityId) {
      if (identityId === this.current) {
        if (this.currentNext === undefined || t < this.currentNext) this.currentNext = t;
        return;
      }
      const cur = this.nextByIdentity.get(identityId);
      if (cur === undefined || t < cur) this.nextByIdentity.set(identityId, t);
    }
  }

  /** From now until nextOf(identityId), only this identity's next looks are noted. */
  begin(identityId: string): void {
    this.current = identityId;
    this.currentNext = this.nextByIdentity.get(identityId);
    if (this.currentNext !== undefined) this.nextByIdentity.delete(identityId);
  }

  /** The identity's earliest next look so far (and the end of begin's). */
  nextOf(identityId: string): number | undefined {
    if (identityId === this.current) {
      this.current = null;
      return this.currentNext;
    }
    return this.nextByIdentity.get(identityId);
  }
}

const NO_IDS: ReadonlySet<string> = new Set();

function leaverReasonOf(identity: Identity, policy: CompiledPolicy, what: string): OperationReason {
  return {
    cause: 'leaver',
    text: `${identity.userName} is a leaver (${identity.deletedAt ? 'deleted at source' : !identity.active ? 'inactive at source' : `left on ${identity.leaveDate}`}): ${what}`,
    policy: `lifecycle.leaver: ${policy.lifecycle.leaver}`,
  };
}

/** The operation fields naming an identity's account in one system (in the order plans have always shown them). */
type AccountRef = { system: string; identityId: string; externalId: string; userName: string; accountId: string };

function accountRef(sys: SystemView, identity: Identity, account: Account): AccountRef {
  return { system: sys.name, identityId: identity.id, externalId: identity.externalId, userName: identity.userName, accountId: account.id };
}

/**
 * Diffs one identity against its account in one system: the heart of reconciliation.
 * `account` is what the system holds now (null: none found), `link` what the store knows.
 * It runs for every identity of a full run, and in a converged estate finds nothing to do:
 * what only an operation needs is made when there is one.
 */
function diffIdentity(
  b: PlanBuilder,
  ctx: EngineContext,
  sys: SystemView,
  p: PlannedIdentity,
  account: Account | null,
  link: Link | undefined,
  usage: CredentialFacts,
  now: Date,
): void {
  const { identity, evaluation } = p;
  const policy = ctx.policy;
  const leaver = evaluation.leaver;
  const desired = new Map<string, Entitlement>();
  // kept only because the person held it (an invariant would refuse it anew): never granted again here
  const keepOnly = evaluation.violations === undefined ? null : keptBreaking(evaluation);
  for (const e of evaluation.entitlements) {
    if (e.accessGroup.system !== sys.name) continue;
    if (keepOnly?.has(e.accessGroup.id) && !account?.memberships.some((m) => m.group === e.accessGroup.ref)) {
      b.warnings.push(`${identity.userName}: ${e.accessGroup.name} not granted: held on record but not in ${sys.name}, and granting it would break invariant ${keepOnly.get(e.accessGroup.id)}`);
      continue;
    }
    // A system that cannot store a window gets the grant only once the window has begun;
    // the engine revokes it when it ends (nextCheckAt brings the identity back on time).
    if (sys.caps.validity !== 'membership' && e.validFrom && Date.parse(e.validFrom) > now.getTime()) continue;
    desired.set(e.accessGroup.ref, e);
  }

  if (!account) {
    if (leaver || desired.size === 0) return;
    const base = {
      system: sys.name,
      identityId: identity.id,
      externalId: identity.externalId,
      userName: identity.userName,
    };
    // what this system can hold of the person's attributes (drivers/fit.ts): never a reason to refuse the change
    const fit = fitAccountFields(identity, sys.caps.limits);
    b.add({
      ...base,
      kind: 'create_account',
      accountId: null,
      account: {
        externalId: identity.externalId,
        displayName: fit.displayName,
        email: fit.email,
        ...(sys.caps.validity === 'account' ? { validity: accountWindow(desired) } : {}),
      },
      reason: { cause: 'joiner', text: `${identity.userName} is entitled to ${desired.size} access group(s) in ${sys.name} and has no account there` },
      revocation: false,
      ...(fit.fitted.length ? { fitted: fit.fitted } : {}),
    });
    for (const e of desired.values()) {
      b.add({
        ...base,
        kind: 'grant',
        accountId: null,
        group: groupOf(e.accessGroup),
        validity: validityOf(e),
        reason: { cause: 'entitled', text: ruleText(e), reasons: e.reasons },
        revocation: false,
      });
    }
    return;
  }

  // data-on-card systems: a revocation reaches offline locks when the holder's keys are next
  // updated, at the latest when the last of them expires
  const learned = sys.caps.offline ? { learnedBy: offlineLearnedBy(account, sys.caps.offline.revalidationDays, now) } : NOT_OFFLINE;
  // an access group of offline doors in an online system (CLIQ beside Aperio): its own days
  const learnedFor = (g: AccessGroup) => (g.offline ? { learnedBy: offlineLearnedBy(account, g.offline.revalidationDays, now) } : learned);

  if (!link || link.accountId !== account.id) {
    b.add({
      ...accountRef(sys, identity, account),
      kind: 'link_account',
      reason: { cause: 'relink', text: `account ${account.id} in ${sys.name} carries ${identity.userName}'s key ${identity.externalId}: linked` },
      revocation: false,
    });
  }

  // each group's first membership, in the account's order; groups held more than once
  const byGroup = new Map<string, Membership>();
  let repeated: Set<string> | null = null;
  for (const m of account.memberships) {
    if (!byGroup.has(m.group)) byGroup.set(m.group, m);
    else (repeated ??= new Set()).add(m.group);
  }

  if (!leaver && desired.size > 0 && account.state === 'suspended' && sys.caps.suspendAccount) {
    b.add({
      ...accountRef(sys, identity, account),
      kind: 'reactivate_account',
      reason: { cause: 'joiner', text: `${identity.userName} is active and entitled again: account reactivated` },
      revocation: false,
    });
  }
  if (!leaver && desired.size > 0 && !sys.caps.suspendAccount && usage.heldForLeaver.size > 0 && canSetCredentialState(sys.caps, 'active')) {
    // a system without account suspension: the credentials lockstep suspended when this person
    // left, and only those (not an operator's, a lost card's or an unused one's), are theirs again
    for (const c of account.credentials) {
      if (c.status !== 'suspended' || !usage.heldForLeaver.has(c.id)) continue;
      b.add({
        ...accountRef(sys, identity, account),
        kind: 'set_credential_state',
        credentialId: c.id,
        credentialState: 'active',
        reason: { cause: 'joiner', text: `${identity.userName} is active and entitled again: credential ${c.number ?? c.id}, suspended by lockstep when they left, active again` },
        revocation: false,
      });
    }
  }
  // a leaver's account is not updated: fitting is for what is sent, and nothing is sent then
  const fit = leaver ? null : fitAccountFields(identity, sys.caps.limits);
  const wantName = fit?.displayName ?? identity.displayName ?? identity.userName;
  // systems with dates on the person: the account ends when the last of its windows does
  // (defence in depth: the lock system closes it even if lockstep does not run); each group's
  // own end is enforced on schedule
  const window = sys.caps.validity === 'account' && !leaver && desired.size > 0 ? accountWindow(desired) : null;
  const windowDiffers = window !== null && !sameInstant(account.validity?.until ?? null, window.until);
  if (!leaver && (account.displayName !== wantName || windowDiffers)) {
    b.add({
      ...accountRef(sys, identity, account),
      kind: 'update_account',
      account: { externalId: identity.externalId, displayName: wantName, email: fit?.email, ...(window ? { validity: window } : {}) },
      reason: windowDiffers
        ? { cause: 'validity', text: `account valid ${fmt({ from: account.validity?.from ?? null, until: account.validity?.until ?? null })} → ${fmt(window!)} (the latest end of its access groups)` }
        : { cause: 'entitled', text: `display name "${account.displayName}" → "${wantName}"` },
      revocation: false,
      ...(fit?.fitted.length ? { fitted: fit.fitted } : {}),
    });
  }

  for (const [ref, e] of desired) {
    const cur = byGroup.get(ref);
    if (cur === undefined) {
      b.add({ ...accountRef(sys, identity, account), kind: 'grant', group: groupOf(e.accessGroup), validity: validityOf(e), reason: { cause: 'entitled', text: ruleText(e), reasons: e.reasons }, revocation: false });
      continue;
    }
    if (sys.caps.validity === 'membership') {
      if (repeated?.has(ref) || !sameInstant(cur.from, e.validFrom) || !sameInstant(cur.until, e.validUntil)) {
        const want = validityOf(e);
        b.add({
          ...accountRef(sys, identity, account),
          kind: 'change_validity',
          group: groupOf(e.accessGroup),
          validity: want,
          previousValidity: { from: cur.from, until: cur.until },
          reason: { cause: 'validity', text: `${fmt({ from: cur.from, until: cur.until })} → ${fmt(want)}: ${ruleText(e)}`, reasons: e.reasons },
          revocation: false,
        });
      }
    }
  }

  for (const [ref, have] of byGroup) {
    if (desired.has(ref)) continue;
    const g = sys.managed.get(ref);
    if (!g) continue; // not a group the mappings declare: not lockstep's to touch
    const denied = evaluation.denied.find((d) => d.accessGroupId === g.id);
    // the rules grant it and only an invariant refuses it: held access is reported, never revoked
    // by an invariant on its own (policy/invariants.ts); a review or an operator decides
    if (!leaver && denied?.invariant !== undefined && !denied.exception && evaluation.denied.every((d) => d.accessGroupId !== g.id || d.invariant !== undefined)) continue;
    const reason: OperationReason = leaver
      ? leaverReasonOf(identity, policy, `membership of ${g.name} revoked`)
      : denied
        ? denied.exception
          ? { cause: 'exception', text: `${g.name}: ${denied.reason}`, policy: `exception ${denied.exception.id}` }
          : { cause: /expir/i.test(denied.reason) ? 'expired' : 'not-entitled', text: `${g.name}: ${denied.reason} (rule ${denied.rule})` }
        : { cause: 'not-entitled', text: `no rule grants ${identity.userName} ${g.name} any more` };
    b.add({ ...accountRef(sys, identity, account), kind: 'revoke', group: groupOf(g), previousValidity: { from: have.from, until: have.until }, reason, revocation: true, ...learnedFor(g) });
  }

  if (leaver) {
    const action = policy.lifecycle.leaver;
    // a suspended or deleted account reaches the offline doors it held when its keys revalidate
    const offlineDays = [...byGroup.keys()].map((ref) => sys.managed.get(ref)?.offline?.revalidationDays ?? 0).reduce((a, d) => Math.max(a, d), sys.caps.offline?.revalidationDays ?? 0);
    const learnedAccount = offlineDays > (sys.caps.offline?.revalidationDays ?? 0) ? { learnedBy: offlineLearnedBy(account, offlineDays, now) } : learned;
    if (action === 'delete' && sys.caps.deleteAccount) {
      b.add({ ...accountRef(sys, identity, account), kind: 'delete_account', reason: leaverReasonOf(identity, policy, 'account deleted'), revocation: true, ...learnedAccount });
    } else if ((action === 'suspend' || action === 'delete') && sys.caps.suspendAccount && account.state === 'active') {
      b.add({ ...accountRef(sys, identity, account), kind: 'suspend_account', reason: leaverReasonOf(identity, policy, 'account suspended'), revocation: true, ...learnedAccount });
    } else if ((action === 'suspend' || action === 'delete') && !sys.caps.suspendAccount && canSetCredentialState(sys.caps, 'suspended')) {
      for (const c of account.credentials.filter((c) => c.status === 'active')) {
        b.add({ ...accountRef(sys, identity, account), kind: 'set_credential_state', credentialId: c.id, credentialState: 'suspended', reason: leaverReasonOf(identity, policy, `credential ${c.id} suspended (system cannot suspend accounts)`), revocation: true, ...learnedAccount });
      }
    }
    return;
  }

  planUnusedCredentials(b, ctx, sys, p, account, desired, usage, now);
}

/** Groups an evaluation keeps only as held access that breaks an invariant, with the invariant. */
function keptBreaking(e: Evaluation): Map<string, string> {
  const out = new Map<string, string>();
  for (const v of e.violations ?? []) for (const g of v.accessGroupIds) if (!out.has(g)) out.set(g, v.invariant);
  return out;
}

/**
 * The managed access groups an account opens now (an active account; memberships whose window
 * holds now) and keeps after this plan (`ops` from `mark` on: the person's operations in this
 * system; what they revoke or suspend is going), added to `into` by mapping id: what the
 * invariants are checked against.
 */
function heldGroupsOf(sys: SystemView, account: Account | null, now: number, into: Set<string>, ops: Operation[], mark: number): void {
  if (account === null || account.state !== 'active') return;
  let going: Set<string> | null = null;
  for (let i = mark; i < ops.length; i++) {
    const o = ops[i]!;
    if (o.kind === 'suspend_account' || o.kind === 'delete_account') return;
    if (o.kind === 'revoke' && o.group) (going ??= new Set()).add(o.group.ref);
  }
  for (const m of account.memberships) {
    const g = sys.managed.get(m.group);
    if (g === undefined || going?.has(m.group)) continue;
    if (m.from && parseInstant(m.from) > now) continue;
    if (m.until && parseInstant(m.until) <= now) continue;
    into.add(g.id);
  }
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

/** An account's own window where the system keeps dates on the person: open while any of its groups is. */
function accountWindow(desired: Map<string, Entitlement>): Validity {
  let until: string | null = null;
  for (const e of desired.values()) {
    if (e.validUntil === null) return { from: null, until: null };
    if (until === null || parseInstant(e.validUntil) > parseInstant(until)) until = e.validUntil;
  }
  return { from: null, until };
}

const OFFLINE_DAY_MS = 86_400_000;
const NOT_OFFLINE: { learnedBy?: string } = Object.freeze({});

/** The latest expiry of an account's active offline keys; a key that does not say counts a full revalidation period from now. */
function offlineLearnedBy(account: Account, revalidationDays: number, now: Date): string {
  const fallback = now.getTime() + revalidationDays * OFFLINE_DAY_MS;
  let latest = Number.NEGATIVE_INFINITY;
  for (const c of account.credentials) {
    if (c.status !== 'active') continue;
    const t = c.keyExpiresAt ? Date.parse(c.keyExpiresAt) : fallback;
    latest = Math.max(latest, Number.isFinite(t) ? t : fallback);
  }
  // no active key: nothing can open an offline lock any more
  return new Date(Number.isFinite(latest) ? Math.max(latest, now.getTime()) : now.getTime()).toISOString();
}

/**
 * Credentials nobody used for the class's unusedCredentialDays (or unusedCredentialAfter) are suspended. The strictest
 * class the person holds decides; a rule may exempt its holders. A credential never used counts
 * from when the person's access first began.
 */
function planUnusedCredentials(
  b: PlanBuilder,
  ctx: EngineContext,
  sys: SystemView,
  p: PlannedIdentity,
  account: Account,
  held: Map<string, Entitlement>,
  facts: CredentialFacts,
  now: Date,
): void {
  if (!canSetCredentialState(sys.caps, 'suspended') || held.size === 0) return;
  const usage = facts.lastUsed;
  let limit: CompiledDuration | null = null;
  let cls: number | null = null;
  for (const e of held.values()) {
    if (e.exemptFromUnusedExpiry) return;
    const d = ctx.policy.classes[e.accessGroup.protectionClass]?.unusedCredential ?? null;
    if (d !== null && (limit === null || d.ms < limit.ms)) {
      limit = d;
      cls = e.accessGroup.protectionClass;
    }
  }
  if (limit === null) return;
  // the earliest anchor, needed only for a credential never used (sorting every person's anchors costs)
  let began: string | null | undefined;
  for (const c of account.credentials) {
    if (c.status !== 'active') continue;
    // the later of the two, as sorting them as strings finds it (without the arrays, for every credential)
    const a = c.lastUsedAt;
    const u = usage.get(c.id);
    const used =
      (a === null || typeof a === 'string') && (u === undefined || typeof u === 'string')
        ? a && u
          ? u > a
            ? u
            : a
          : a || u || null
        : ([a, u].filter((x): x is string => !!x).sort().pop() ?? null);
    let since = used ?? (began === undefined ? (began = Object.values(p.anchors).sort()[0] ?? null) : began);
    // set active again by lockstep (a rehire): counted from then, not from a use before they left
    const back = facts.reactivatedAt.size ? facts.reactivatedAt.get(c.id) : undefined;
    const fromBack = back !== undefined && (!since || back > since);
    if (fromBack) since = back;
    if (!since) continue;
    const deadline = parseInstant(since) + limit.ms;
    if (deadline <= now.getTime()) {
      b.add({
        ...accountRef(sys, p.identity, account),
        kind: 'set_credential_state',
        credentialId: c.id,
        credentialState: 'suspended',
        reason: {
          cause: 'unused-credential',
          text: `${c.type} ${c.number ?? c.id} ${fromBack ? `not used since lockstep set it active again ${since}` : used ? `last used ${used}` : `never used since access began ${since}`}: unused for more than ${limit.text}`,
          policy: `classes.${cls}.${limit.setting}`,
        },
        revocation: true,
      });
    } else {
      // whole milliseconds within Date's range read back as themselves; anything else takes the round trip (and its RangeError)
      b.checkAtMs(Number.isInteger(deadline) && Math.abs(deadline) <= 8.64e15 ? deadline : Date.parse(new Date(deadline).toISOString()), p.identity.id);
    }
  }
}

/** Accounts no identity owns: midPoint's "unmatched" situation, handled per lifecycle.orphans. */
function planOrphan(b: PlanBuilder, ctx: EngineContext, sys: SystemView, account: Account): void {
  const action = ctx.policy.lifecycle.orphans;
  const managedMemberships = account.memberships.filter((m) => sys.managed.has(m.group));
  const what = `account ${account.id} "${account.displayName}"${account.externalId ? ` (key ${account.externalId})` : ''} in ${sys.name} has no identity`;
  const base = { system: sys.name, identityId: null, externalId: account.externalId, userName: null, accountId: account.id };
  const reason = (t: string): OperationReason => ({ cause: 'orphan', text: `${what}: ${t}`, policy: `lifecycle.orphans: ${action}` });
  if (action === 'report') {
    if (account.state === 'active' && (managedMemberships.length > 0 || account.credentials.some((c) => c.status === 'active'))) {
      b.warnings.push(`orphan: ${what} (${managedMemberships.length} managed membership(s)); reported only (lifecycle.orphans: report)`);
    }
    return;
  }
  for (const m of managedMemberships) {
    const g = sys.managed.get(m.group)!;
    b.add({ ...base, kind: 'revoke', group: groupOf(g), previousValidity: { from: m.from, until: m.until }, reason: reason(`membership of ${g.name} revoked`), revocation: true });
  }
  if (action === 'suspend' && account.state === 'active' && sys.caps.suspendAccount) {
    b.add({ ...base, kind: 'suspend_account', reason: reason('account suspended'), revocation: true });
  }
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
    knownGovernance ?? governanceInForce(ctx.db, identities.map((i) => i.id), now),
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
  const evaluation = evaluate(identity, ctx.policy, {
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

/** Maps with at most `limit` calls in flight; results keep the input order. */
/**
 * Every identity (deleted ones too), evaluated in id order and handed to `onSlice` a few hundred
 * at a time. The next page is read from the store while the current one is evaluated, so the
 * store's latency hides behind the CPU work; between slices the event loop runs (reads going on
 * alongside keep moving), and a slice's evaluations can be dropped as soon as it is diffed,
 * while they are still young: the garbage collector never has to copy them.
 */
async function evaluateEveryone(ctx: EngineContext, now: Date, onSlice: (ps: PlannedIdentity[]) => void, holders?: HolderCounts): Promise<void> {
  const pageSize = 5000;
  const read = (afterId: string | undefined) => listIdentities(ctx.db, { includeDeleted: true, afterId, limit: pageSize });
  let next: Promise<Identity[]> | null = read(undefined);
  while (next) {
    const page: Identity[] = await next;
    if (page.length === 0) break;
    next = page.length < pageSize ? null : read(page[page.length - 1]!.id);
    // an unobserved rejection of the prefetch would crash the process; it is awaited next turn
    next?.catch(() => undefined);
    const ids = page.map((i) => i.id);
    const [anchors, sponsors, conflicts, governance] = await Promise.all([loadAnchors(ctx.db, ids), loadSponsorStates(ctx, page, now), loadConflicts(ctx, page), governanceInForce(ctx.db, ids, now)]);
    for (let i = 0; i < page.length; i += EVALUATION_SLICE) {
      if (i > 0) await new Promise<void>((resolve) => setImmediate(resolve));
      onSlice(page.slice(i, i + EVALUATION_SLICE).map((identity) => planned(ctx, identity, anchors.get(identity.id) ?? {}, now, sponsors, conflicts, governance, holders)));
    }
  }
}

async function listAllAccounts(driver: LockDriver): Promise<Account[]> {
  const out: Account[] = [];
  let cursor: string | null = null;
  do {
    const page = await driver.listAccounts(cursor);
    out.push(...page.items);
    cursor = page.next;
  } while (cursor);
  return out;
}

/**
 * Builds the plan for a scope: reads identities from the store and actual state from every
 * lock system, evaluates the policy and diffs. Reads only; nothing is changed.
 */
export async function buildPlan(ctx: EngineContext, scope: Scope): Promise<BuiltPlan> {
  const { built, planned } = await planScope(ctx, scope, true);
  return { plan: built.plan, identities: planned, scopeSize: built.scopeSize, nextCheckAtByIdentity: built.nextCheckAtByIdentity };
}

/**
 * What storing anchors after a run needs of one identity whose anchors no longer match its
 * entitlements (identities whose anchors match need nothing, and are not listed).
 */
export interface AnchorChange {
  identityId: string;
  entitled: Array<{ accessGroupId: string; validFrom: string | null }>;
}

/** The plan a run applies: as BuiltPlan, with only the anchor changes instead of every evaluation. */
export interface RunPlan extends Omit<BuiltPlan, 'identities'> {
  anchorChanges: AnchorChange[];
}

/**
 * As buildPlan, for runReconcile: the same plan, but each identity's evaluation is dropped once
 * it has been diffed, keeping only what storing anchors needs. A full run of 100k identities
 * then holds the accounts and a page of evaluations at a time rather than 100k evaluations
 * (about 3 KB each) until it ends: less memory, and far less for the garbage collector to copy.
 */
export async function buildRunPlan(ctx: EngineContext, scope: Scope): Promise<RunPlan> {
  const { built } = await planScope(ctx, scope, false);
  return built;
}

function anchorChange(p: PlannedIdentity): AnchorChange | null {
  // one entitlement per group and one anchor per group: the same sets when the sizes agree and
  // every entitled group has an anchor (no need to sort both lists for every identity)
  const entitled = p.evaluation.entitlements;
  let same = entitled.length === Object.keys(p.anchors).length;
  for (let i = 0; same && i < entitled.length; i++) same = Object.hasOwn(p.anchors, entitled[i]!.accessGroup.id);
  if (same) return null;
  return { identityId: p.identity.id, entitled: p.evaluation.entitlements.map((e) => ({ accessGroupId: e.accessGroup.id, validFrom: e.validFrom })) };
}

async function planScope(ctx: EngineContext, scope: Scope, retain: boolean): Promise<{ built: RunPlan; planned: PlannedIdentity[] }> {
  const now = ctx.now();
  const b = new PlanBuilder();
  const systems = systemViews(ctx);
  const planned: PlannedIdentity[] = [];
  const anchorChanges: AnchorChange[] = [];
  /** Each planned identity's next look, in plan order. */
  const nextCheckAtByIdentity: Record<string, string | null> = {};
  let identities = 0;
  let scopeSize = 0;
  // after an identity's diff (in every system: nothing changes its next look after this): what
  // the run needs of it later, and (unless the caller wants them) nothing else, so its
  // evaluation can go
  const conflicts: CorrelationConflict[] = [];
  const check = scope.kind === 'orphans' ? null : await invariantCheck(ctx);
  const nowMs = now.getTime();
  const done = (p: PlannedIdentity): void => {
    identities++;
    if (p.conflict) {
      conflicts.push(p.conflict);
      b.warnings.push(`${p.identity.userName} (${p.identity.id}): ${conflictText(p.conflict)}`);
    }
    const id = p.identity.id;
    b.checkAt(p.evaluation.nextCheckAt, id);
    const t = b.nextOf(id);
    nextCheckAtByIdentity[id] = t === undefined ? null : isoOf(t);
    const change = anchorChange(p);
    if (change) anchorChanges.push(change);
    if (retain) planned.push(p);
  };

  if (scope.kind === 'identities') {
    const ids = [...new Set(scope.ids)];
    // identities, anchors and links in one round trip: the queue runs this for every joiner,
    // mover and leaver
    const { identities, anchors, links, conflicts, governance } = await loadIdentityScope(ctx.db, ids, now);
    const ps = await evaluateWith(ctx, identities, anchors, now, conflicts, governance, check?.holders);
    const heldBy = check ? ps.map(() => new Set<string>()) : null;
    scopeSize = ps.length;
    // deleted people whose key a live person holds: that key's account is the live one's (one
    // round trip, only when a deleted person is in scope)
    const deleted = ps.filter((p) => p.identity.deletedAt).map((p) => p.identity.id);
    const shadowed = deleted.length ? await deletedShadowedByLive(ctx.db, deleted) : NO_IDS;
    for (const sys of systems) {
      const linkOf = new Map(links.filter((l) => l.system === sys.name).map((l) => [l.identityId, l]));
      // one look-up per person: run them side by side (a bucket holds hundreds), diff in order
      const accounts = await mapLimit(ps, Math.max(1, ctx.executor.concurrency), async (p) => {
        const link = linkOf.get(p.identity.id);
        // a conflicted identity is diffed only against the account it is linked to, never the contested key's;
        // so is a deleted one whose key a live person holds
        const byKey = !p.conflict && !shadowed.has(p.identity.id);
        return (link ? await sys.driver.getAccount(link.accountId) : null) ?? (byKey ? await sys.driver.findAccount(p.identity.externalId) : null);
      });
      const usage = canSetCredentialState(sys.caps, 'suspended')
        ? await credentialFactsFor(ctx.db, sys.name, accounts.flatMap((a) => a?.credentials.map((c) => c.id) ?? []))
        : noCredentialFacts();
      ps.forEach((p, i) => {
        const mark = b.ops.length;
        diffIdentity(b, ctx, sys, p, accounts[i]!, linkOf.get(p.identity.id), usage, now);
        if (heldBy) heldGroupsOf(sys, accounts[i]!, nowMs, heldBy[i]!, b.ops, mark);
      });
    }
    if (check && heldBy) ps.forEach((p, i) => checkHeld(ctx, check, p, heldBy[i]!, now));
    ps.forEach(done);
  } else if (scope.kind === 'full') {
    type SystemState = { byId: Map<string, Account>; byKey: Map<string, Account>; claimed: Set<string>; links: Map<string, Link>; usage: CredentialFacts };
    const readSystem = async (sys: SystemView): Promise<SystemState> => {
      const accounts = await listAllAccounts(sys.driver);
      const byId = new Map(accounts.map((a) => [a.id, a]));
      const byKey = new Map<string, Account>();
      for (const a of accounts) if (a.externalId) byKey.set(a.externalId, a);
      const links = new Map((await listLinks(ctx.db, sys.name)).map((l) => [l.identityId, l]));
      const usage = canSetCredentialState(sys.caps, 'suspended') ? await credentialFacts(ctx.db, sys.name) : noCredentialFacts();
      return { byId, byKey, claimed: new Set(), links, usage };
    };
    // The lock systems (over HTTP) are read while identities are read and evaluated, so the
    // waits overlap instead of adding up. Slices evaluated before the accounts have arrived wait
    // for them; after that each slice is diffed as soon as it is evaluated. Slices are diffed in
    // id order either way, so the plan is the same as reading one thing after the other.
    let accountsBySystem: Map<string, SystemState> | null = null;
    let readFailed = false;
    // deleted people whose key a live person holds never take that key's account
    const shadowed = await deletedShadowedByLive(ctx.db);
    const reading = Promise.all(systems.map(async (sys) => [sys.name, await readSystem(sys)] as const)).then(
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
        if (!p.identity.deletedAt) scopeSize++;
        b.begin(p.identity.id);
        const held = check ? new Set<string>() : null;
        for (const sys of systems) {
          const s = states.get(sys.name)!;
          const link = s.links.get(p.identity.id);
          let account = (link ? s.byId.get(link.accountId) : undefined) ?? null;
          if (p.conflict) {
            // the contested key's account is no one's to diff, and not an orphan either
            const contested = s.byKey.get(p.identity.externalId);
            if (contested) s.claimed.add(contested.id);
          } else if (!shadowed.has(p.identity.id)) account ??= s.byKey.get(p.identity.externalId) ?? null;
          if (account) s.claimed.add(account.id);
          const mark = b.ops.length;
          diffIdentity(b, ctx, sys, p, account, link, s.usage, now);
          if (held) heldGroupsOf(sys, account, nowMs, held, b.ops, mark);
        }
        if (check && held) checkHeld(ctx, check, p, held, now);
        done(p);
      }
    };
    try {
      await evaluateEveryone(ctx, now, (ps) => {
        // a lock system that cannot be read fails the plan: stop evaluating (its error is thrown below)
        if (readFailed) throw new LockstepError('unavailable', 'the lock systems could not be read');
        const states = accountsBySystem as Map<string, SystemState> | null;
        if (states === null) {
          waiting.push(ps);
          return;
        }
        for (let w = waiting.shift(); w; w = waiting.shift()) diffPage(w, states);
        diffPage(ps, states);
      }, check?.holders);
    } finally {
      // settle the lock systems' read either way; its failure wins, as it did when it came first
      await reading;
    }
    const states = accountsBySystem as Map<string, SystemState> | null;
    if (states === null) throw new LockstepError('internal', 'the lock systems were read but their accounts are missing');
    for (let w = waiting.shift(); w; w = waiting.shift()) diffPage(w, states);
    for (const sys of systems) {
      const s = states.get(sys.name)!;
      for (const a of s.byId.values()) {
        if (s.claimed.has(a.id)) continue;
        scopeSize++;
        planOrphan(b, ctx, sys, a);
      }
    }
    // at most N holders: counted over everyone, once per plan
    if (check) for (const v of overHolders(check.heldCounts, ctx.policy.invariants)) check.violations.push(v);
  } else {
    const sys = systems.find((s) => s.name === scope.system);
    if (sys) {
      const accounts = await listAllAccounts(sys.driver);
      const links = await listLinks(ctx.db, sys.name);
      const linked = new Set(links.map((l) => l.accountId));
      // an account whose key belongs to an identity is not an orphan, even before it is linked
      const unknown = accounts.filter((a) => !linked.has(a.id));
      const keys = await knownExternalIds(ctx.db, unknown.map((a) => a.externalId).filter((x): x is string => !!x));
      for (const a of unknown) {
        if (a.externalId && keys.has(a.externalId)) continue;
        scopeSize++;
        planOrphan(b, ctx, sys, a);
      }
    }
  }

  const plan: Plan = {
    createdAt: now.toISOString(),
    scope: scope.kind === 'full' ? 'full' : 'identities',
    identities,
    operations: b.ops,
    summary: summarize(b.ops),
    warnings: b.warnings,
    ...(conflicts.length ? { conflicts } : {}),
    ...(check?.violations.length ? { violations: check.violations } : {}),
    nextCheckAt: b.nextCheckAt === null ? null : new Date(b.nextCheckAt).toISOString(),
  };
  return { built: { plan, scopeSize, nextCheckAtByIdentity, anchorChanges }, planned };
}
