import { fitAccountFields } from '../drivers/fit.js';
import type { Account, AccessGroup, Entitlement, Membership, ProtectionClass, Validity } from '../domain/access.js';
import type { Identity } from '../domain/identity.js';
import type { Operation, OperationReason } from '../domain/plan.js';
import { isoOfMs, parseMs } from '../domain/time.js';
import { canSetCredentialState, type DriverCapabilities } from '../drivers/contract.js';
import type { ClassPolicy, CompiledDuration, CompiledPolicy } from '../policy/compile.js';
import type { Evaluation } from '../policy/evaluate.js';
import { noCredentialFacts, type CredentialFacts, type Link } from '../store/links.js';

/**
 * The diff, pure: one identity (with its evaluation: the entitlements the policy grants it) and
 * what one lock system holds of it (its account, its link, its credentials' use) in, the
 * operations that converge them out. No store, no driver, no clock but the `now` it is given:
 * plan.ts composes it with observe.ts (what is) and the policy (what should be).
 */

/** What the diff reads of the policy (a CompiledPolicy is one). */
export interface DiffPolicy {
  lifecycle: Pick<CompiledPolicy['lifecycle'], 'leaver' | 'orphans'>;
  classes: Readonly<Partial<Record<ProtectionClass, Pick<ClassPolicy, 'unusedCredential'>>>>;
}

/** One lock system as the diff sees it. */
export interface DiffSystem {
  name: string;
  caps: DriverCapabilities;
  /** Access groups the mappings declare in this system, by ref: the only groups lockstep touches. */
  managed: Map<string, AccessGroup>;
}

/** An identity and what the policy decided for it (plan.ts's PlannedIdentity is one). */
export interface DiffIdentity {
  identity: Identity;
  evaluation: Evaluation;
  /** When each current entitlement began (by access group id). */
  anchors: Record<string, string>;
}

/** Validity instants differ when they are more than a second apart (systems round to seconds). */
export function sameInstant(a: string | null | undefined, b: string | null | undefined): boolean {
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

export function groupOf(g: AccessGroup) {
  return { id: g.id, ref: g.ref, name: g.name, protectionClass: g.protectionClass };
}

export class PlanBuilder {
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
    this.ops.push({ ...op, key });
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

function leaverReasonOf(identity: Identity, policy: DiffPolicy, what: string): OperationReason {
  return {
    cause: 'leaver',
    text: `${identity.userName} is a leaver (${identity.deletedAt ? 'deleted at source' : !identity.active ? 'inactive at source' : `left on ${identity.leaveDate}`}): ${what}`,
    policy: `lifecycle.leaver: ${policy.lifecycle.leaver}`,
  };
}

/** The operation fields naming an identity's account in one system (in the order plans have always shown them). */
type AccountRef = { system: string; identityId: string; externalId: string; userName: string; accountId: string };

function accountRef(sys: DiffSystem, identity: Identity, account: Account): AccountRef {
  return { system: sys.name, identityId: identity.id, externalId: identity.externalId, userName: identity.userName, accountId: account.id };
}

/**
 * Diffs one identity against its account in one system: the heart of reconciliation.
 * `account` is what the system holds now (null: none found), `link` what the store knows.
 * It runs for every identity of a full run, and in a converged estate finds nothing to do:
 * what only an operation needs is made when there is one.
 */
export function diffIdentity(
  b: PlanBuilder,
  policy: DiffPolicy,
  sys: DiffSystem,
  p: DiffIdentity,
  account: Account | null,
  link: Pick<Link, 'accountId'> | undefined,
  usage: CredentialFacts,
  now: Date,
): void {
  const { identity, evaluation } = p;
  const leaver = evaluation.leaver;
  const desired = new Map<string, Entitlement>();
  // kept only because the person held it (an invariant would refuse it anew): never granted again here
  const keepOnly = evaluation.violations === undefined ? null : keptBreaking(evaluation);
  for (const e of evaluation.entitlements) {
    if (e.accessGroup.system !== sys.name) continue;
    if (keepOnly?.has(e.accessGroup.id) && !account?.memberships.some((m) => m.group === e.accessGroup.ref)) {
      b.warnings.push(
        `${identity.userName}: ${e.accessGroup.name} not granted: held on record but not in ${sys.name}, and granting it would break invariant ${keepOnly.get(e.accessGroup.id)}`,
      );
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
        reason: {
          cause: 'joiner',
          text: `${identity.userName} is active and entitled again: credential ${c.number ?? c.id}, suspended by lockstep when they left, active again`,
        },
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
        ? {
            cause: 'validity',
            text: `account valid ${fmt({ from: account.validity?.from ?? null, until: account.validity?.until ?? null })} → ${fmt(window)} (the latest end of its access groups)`,
          }
        : { cause: 'entitled', text: `display name "${account.displayName}" → "${wantName}"` },
      revocation: false,
      ...(fit?.fitted.length ? { fitted: fit.fitted } : {}),
    });
  }

  for (const [ref, e] of desired) {
    const cur = byGroup.get(ref);
    if (cur === undefined) {
      b.add({
        ...accountRef(sys, identity, account),
        kind: 'grant',
        group: groupOf(e.accessGroup),
        validity: validityOf(e),
        reason: { cause: 'entitled', text: ruleText(e), reasons: e.reasons },
        revocation: false,
      });
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
    if (
      !leaver &&
      denied?.invariant !== undefined &&
      !denied.exception &&
      evaluation.denied.every((d) => d.accessGroupId !== g.id || d.invariant !== undefined)
    )
      continue;
    const reason: OperationReason = leaver
      ? leaverReasonOf(identity, policy, `membership of ${g.name} revoked`)
      : denied
        ? denied.exception
          ? { cause: 'exception', text: `${g.name}: ${denied.reason}`, policy: `exception ${denied.exception.id}` }
          : { cause: /expir/i.test(denied.reason) ? 'expired' : 'not-entitled', text: `${g.name}: ${denied.reason} (rule ${denied.rule})` }
        : { cause: 'not-entitled', text: `no rule grants ${identity.userName} ${g.name} any more` };
    b.add({
      ...accountRef(sys, identity, account),
      kind: 'revoke',
      group: groupOf(g),
      previousValidity: { from: have.from, until: have.until },
      reason,
      revocation: true,
      ...learnedFor(g),
    });
  }

  if (leaver) {
    const action = policy.lifecycle.leaver;
    // a suspended or deleted account reaches the offline doors it held when its keys revalidate
    const offlineDays = [...byGroup.keys()]
      .map((ref) => sys.managed.get(ref)?.offline?.revalidationDays ?? 0)
      .reduce((a, d) => Math.max(a, d), sys.caps.offline?.revalidationDays ?? 0);
    const learnedAccount = offlineDays > (sys.caps.offline?.revalidationDays ?? 0) ? { learnedBy: offlineLearnedBy(account, offlineDays, now) } : learned;
    if (action === 'delete' && sys.caps.deleteAccount) {
      b.add({
        ...accountRef(sys, identity, account),
        kind: 'delete_account',
        reason: leaverReasonOf(identity, policy, 'account deleted'),
        revocation: true,
        ...learnedAccount,
      });
    } else if ((action === 'suspend' || action === 'delete') && sys.caps.suspendAccount && account.state === 'active') {
      b.add({
        ...accountRef(sys, identity, account),
        kind: 'suspend_account',
        reason: leaverReasonOf(identity, policy, 'account suspended'),
        revocation: true,
        ...learnedAccount,
      });
    } else if ((action === 'suspend' || action === 'delete') && !sys.caps.suspendAccount && canSetCredentialState(sys.caps, 'suspended')) {
      for (const c of account.credentials.filter((c) => c.status === 'active')) {
        b.add({
          ...accountRef(sys, identity, account),
          kind: 'set_credential_state',
          credentialId: c.id,
          credentialState: 'suspended',
          reason: leaverReasonOf(identity, policy, `credential ${c.id} suspended (system cannot suspend accounts)`),
          revocation: true,
          ...learnedAccount,
        });
      }
    }
    return;
  }

  planUnusedCredentials(b, policy, sys, p, account, desired, usage, now);
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
export function heldGroupsOf(sys: DiffSystem, account: Account | null, now: number, into: Set<string>, ops: Operation[], mark: number): void {
  if (account === null || account.state !== 'active') return;
  let going: Set<string> | null = null;
  for (let i = mark; i < ops.length; i++) {
    const o = ops[i];
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
  policy: DiffPolicy,
  sys: DiffSystem,
  p: DiffIdentity,
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
    const d = policy.classes[e.accessGroup.protectionClass]?.unusedCredential ?? null;
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
        : ([a, u]
            .filter((x): x is string => !!x)
            .sort()
            .pop() ?? null);
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
export function planOrphan(b: PlanBuilder, policy: DiffPolicy, sys: DiffSystem, account: Account): void {
  const action = policy.lifecycle.orphans;
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
    b.add({
      ...base,
      kind: 'revoke',
      group: groupOf(g),
      previousValidity: { from: m.from, until: m.until },
      reason: reason(`membership of ${g.name} revoked`),
      revocation: true,
    });
  }
  if (action === 'suspend' && account.state === 'active' && sys.caps.suspendAccount) {
    b.add({ ...base, kind: 'suspend_account', reason: reason('account suspended'), revocation: true });
  }
}

/** One identity against one lock system, as diff() takes it: plain data, nothing to read. */
export interface DiffInput {
  policy: DiffPolicy;
  system: DiffSystem;
  identity: DiffIdentity;
  /** What the system holds for the person now (null: no account found). */
  account: Account | null;
  /** What the store knows links them (absent: no link yet). */
  link?: Pick<Link, 'accountId'>;
  /** Credential facts lockstep keeps (last use, holds); default none. */
  usage?: CredentialFacts;
  now: Date;
}

export interface DiffOutput {
  operations: Operation[];
  warnings: string[];
  /** When this identity next needs a look by time alone (null: not by time). */
  nextCheckAt: string | null;
}

/** The operations that bring one identity's account in one system to what the policy grants it. */
export function diff(input: DiffInput): DiffOutput {
  const b = new PlanBuilder();
  const id = input.identity.identity.id;
  b.begin(id);
  diffIdentity(b, input.policy, input.system, input.identity, input.account, input.link, input.usage ?? noCredentialFacts(), input.now);
  b.checkAt(input.identity.evaluation.nextCheckAt, id);
  const next = b.nextOf(id);
  return { operations: b.ops, warnings: b.warnings, nextCheckAt: next === undefined ? null : isoOfMs(next) };
}
