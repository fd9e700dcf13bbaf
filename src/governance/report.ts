import { toCsv } from './csv.js';
import { fitAccountFields } from '../drivers/fit.js';
import { LockstepError } from '../domain/errors.js';
import type { Account, Reason } from '../domain/access.js';
import type { Identity } from '../domain/identity.js';
import { evaluate, type Evaluation } from '../policy/evaluate.js';
import { findIdentityByUserName, getIdentity, iterateIdentities } from '../store/identities.js';
import { allUserNames } from '../store/people.js';
import { didYouMean } from '../domain/suggest.js';
import { credentialUsage, linksForIdentities, listLinks, loadAnchors } from '../store/links.js';
import type { SponsorState } from '../domain/sponsor.js';
import type { CorrelationConflict } from '../domain/plan.js';
import { conflictText, loadConflicts, withConflict } from '../reconcile/conflicts.js';
import { loadSponsorStates } from '../reconcile/sponsors.js';
import { listOfflinePending, type OfflinePending } from '../store/offline.js';
import type { EngineContext } from '../reconcile/types.js';
import { recordedViolationsByMembership } from './violations.js';
import { governanceInForce } from '../store/requests.js';
import type { AccessException, RequestGrant } from '../domain/governance.js';

export interface Explanation {
  identity: Identity;
  evaluation: Evaluation;
  /** Its externalId is not its alone: no access (each would-be grant is denied naming the other holders). */
  conflict: CorrelationConflict | null;
  systems: Array<{ system: string; account: Account | null; linked: boolean; offline?: { revalidationDays: number }; fitted?: string[] }>;
  /** Revocations a data-on-card system took that its offline locks have not learned yet: the keys still open these until learnedBy. */
  offlinePending: OfflinePending[];
  /** The person's access exceptions in force (also those for groups no rule grants them now). */
  exceptions: AccessException[];
}

/** Why does this person have (or not have) which doors: the policy's answer and each system's state. */
export async function explainIdentity(ctx: EngineContext, who: string): Promise<Explanation> {
  const identity = (await findIdentityByUserName(ctx.db, who)) ?? (await getIdentity(ctx.db, who));
  // nobody by that name: say who is close ("did you mean anna.schmidt?")
  if (!identity)
    throw new LockstepError('not_found', `no identity with userName or id "${who}"${didYouMean(who, await allUserNames(ctx.db))}`, { field: 'userName' });
  const anchors = (await loadAnchors(ctx.db, [identity.id])).get(identity.id) ?? {};
  const now = ctx.now();
  const sponsor = (await loadSponsorStates(ctx, [identity], now)).get(identity.id);
  const conflict = (await loadConflicts(ctx, [identity])).get(identity.id) ?? null;
  const governance = await governanceInForce(ctx.db, [identity.id], now);
  const exceptions = governance.exceptions.get(identity.id) ?? [];
  const grants = governance.grants.get(identity.id) ?? [];
  const evaluation = withConflict(evaluate(identity, ctx.policy, { now, anchors, sponsor, exceptions, grants }), conflict ?? undefined);
  const links = await linksForIdentities(ctx.db, [identity.id]);
  const systems = [];
  for (const [name, driver] of ctx.drivers) {
    const link = links.find((l) => l.system === name);
    const account = (link ? await driver.getAccount(link.accountId) : null) ?? (conflict ? null : await driver.findAccount(identity.externalId));
    // how the person's attributes are fitted to what this system holds (drivers/fit.ts), as the plan sends them
    const fit = fitAccountFields(identity, driver.capabilities.limits);
    systems.push({
      system: name,
      account,
      linked: !!link,
      ...(driver.capabilities.offline ? { offline: { ...driver.capabilities.offline } } : {}),
      ...(fit.fitted.length ? { fitted: fit.fitted } : {}),
    });
  }
  const offlinePending = await listOfflinePending(ctx.db, now, { identityId: identity.id });
  return { identity, evaluation, conflict, systems, offlinePending, exceptions };
}

export interface AccessReportRow {
  system: string;
  accountId: string;
  accountState: string;
  userName: string | null;
  displayName: string;
  identityId: string | null;
  employeeType: string | null;
  department: string | null;
  accessGroupId: string | null;
  accessGroup: string;
  groupRef: string;
  protectionClass: number | null;
  validFrom: string | null;
  validUntil: string | null;
  /** Rules, role bundles and source roles that justify it; empty = not justified by policy. */
  why: string;
  roles: string[];
  lastUsed: string | null;
  justified: boolean;
  /** The access exception that denies this membership (it is being revoked), if any. */
  exceptionId?: string | null;
  /**
   * Data-on-card systems: the membership was revoked, but keys updated before the revocation
   * still open its doors on offline locks until this instant (null: not such a row).
   */
  stillOnKeysUntil: string | null;
  /** Invariants this membership breaks, as the service's last plans found them (absent: none). */
  violations?: string[];
}

function whyText(reasons: Reason[]): string {
  // each reason once: the same rule and bundle reached twice (two source roles, two paths) says the same
  return [
    ...new Set(
      reasons.map((r) =>
        r.rule.startsWith('request:')
          ? `access request ${r.rule.slice(8)}`
          : `rule ${r.rule}${r.role ? ` via role ${r.role}` : ''}${r.sourceRole ? ` (source role ${r.sourceRole})` : ''}`,
      ),
    ),
  ].join('; ');
}

/**
 * Who holds which access group, in which protection class, why, valid until when, and when
 * last used: from the lock systems' actual state, joined with the policy's reasons. Memberships
 * that no rule justifies are listed too (justified: false): those are what auditors ask about.
 */
export async function accessReport(ctx: EngineContext): Promise<AccessReportRow[]> {
  const now = ctx.now();
  const byId = new Map<string, Identity>();
  const byKey = new Map<string, Identity>();
  const sponsors = new Map<string, SponsorState>();
  const conflicts = new Map<string, CorrelationConflict>();
  const exceptions = new Map<string, AccessException[]>();
  const grants = new Map<string, RequestGrant[]>();
  for await (const page of iterateIdentities(ctx.db, 5000, { includeDeleted: true })) {
    for (const i of page) {
      byId.set(i.id, i);
      if (!i.deletedAt || !byKey.has(i.externalId)) byKey.set(i.externalId, i);
    }
    for (const [id, s] of await loadSponsorStates(ctx, page, now)) sponsors.set(id, s);
    for (const [id, c] of await loadConflicts(ctx, page)) conflicts.set(id, c);
    const governance = await governanceInForce(
      ctx.db,
      page.map((i) => i.id),
      now,
    );
    for (const [id, x] of governance.exceptions) exceptions.set(id, x);
    for (const [id, x] of governance.grants) grants.set(id, x);
  }
  // keys several live identities hold: an account carrying one belongs to none of them
  const contested = new Map<string, CorrelationConflict>();
  for (const c of conflicts.values()) contested.set(c.externalId, c);
  const evaluations = new Map<string, Evaluation>();
  const anchors = await loadAnchors(ctx.db, [...byId.keys()]);
  const evalFor = (i: Identity) => {
    let e = evaluations.get(i.id);
    if (!e) {
      e = withConflict(
        evaluate(i, ctx.policy, {
          now,
          anchors: anchors.get(i.id) ?? {},
          sponsor: sponsors.get(i.id),
          exceptions: exceptions.get(i.id),
          grants: grants.get(i.id),
        }),
        conflicts.get(i.id),
      );
      evaluations.set(i.id, e);
    }
    return e;
  };
  const rows: AccessReportRow[] = [];
  for (const [system, driver] of ctx.drivers) {
    const links = new Map((await listLinks(ctx.db, system)).map((l) => [l.accountId, l.identityId]));
    const usage = await credentialUsage(ctx.db, system);
    const groupsByRef = new Map([...ctx.policy.accessGroups.values()].filter((g) => g.system === system).map((g) => [g.ref, g]));
    let cursor: string | null = null;
    do {
      const page = await driver.listAccounts(cursor);
      for (const a of page.items) {
        const linkedTo = links.has(a.id) ? byId.get(links.get(a.id)!) : undefined;
        const disputed = linkedTo ? conflicts.get(linkedTo.id) : a.externalId ? contested.get(a.externalId) : undefined;
        const idn = linkedTo ?? (a.externalId && !disputed ? byKey.get(a.externalId) : undefined) ?? null;
        const ev = idn ? evalFor(idn) : null;
        const lastUsed =
          a.credentials
            .map((c) => [c.lastUsedAt, usage.get(c.id)])
            .flat()
            .filter((x): x is string => !!x)
            .sort()
            .pop() ?? null;
        for (const m of a.memberships) {
          const g = groupsByRef.get(m.group);
          const ent = ev?.entitlements.find((e) => e.accessGroup.system === system && e.accessGroup.ref === m.group);
          const excepted = !ent && g ? ev?.denied.find((d) => d.exception && d.accessGroupId === g.id) : undefined;
          rows.push({
            system,
            accountId: a.id,
            accountState: a.state,
            userName: idn?.userName ?? null,
            displayName: a.displayName,
            identityId: idn?.id ?? null,
            employeeType: idn?.employeeType ?? null,
            department: idn?.department ?? null,
            accessGroupId: g?.id ?? null,
            accessGroup: g?.name ?? m.group,
            groupRef: m.group,
            protectionClass: g?.protectionClass ?? null,
            validFrom: m.from,
            validUntil: m.until,
            why: ent
              ? whyText(ent.reasons)
              : excepted
                ? `${excepted.reason}; being revoked`
                : disputed
                  ? conflictText(disputed)
                  : g
                    ? 'not justified by any rule'
                    : 'group not managed by lockstep',
            roles: ent ? [...new Set(ent.reasons.map((r) => r.role).filter((x): x is string => !!x))] : [],
            lastUsed,
            justified: !!ent,
            exceptionId: excepted?.exception?.id ?? null,
            stillOnKeysUntil: null,
          });
        }
      }
      cursor = page.next;
    } while (cursor);
  }
  // memberships that break an invariant (policy-as-code): reported, never revoked on their own
  const broken = await recordedViolationsByMembership(ctx);
  if (broken.size > 0) {
    for (const r of rows) {
      if (!r.accessGroupId) continue;
      const ids = [...(broken.get(`${r.identityId ?? ''}|${r.accessGroupId}`) ?? []), ...(broken.get(`*|${r.accessGroupId}`) ?? [])];
      if (ids.length) r.violations = ids;
    }
  }
  // revoked in a data-on-card system, still on keys: who can open which door although revoked, and until when
  for (const p of await listOfflinePending(ctx.db, now)) {
    const g = [...ctx.policy.accessGroups.values()].find((x) => x.system === p.system && x.ref === p.groupRef);
    const idn = p.identityId ? byId.get(p.identityId) : undefined;
    rows.push({
      system: p.system,
      accountId: p.accountId,
      accountState: p.kind === 'suspend_account' ? 'suspended' : 'active',
      userName: idn?.userName ?? p.userName,
      displayName: idn?.displayName ?? p.userName ?? p.accountId,
      identityId: p.identityId,
      employeeType: idn?.employeeType ?? null,
      department: idn?.department ?? null,
      accessGroupId: g?.id ?? null,
      accessGroup: g?.name ?? p.groupRef,
      groupRef: p.groupRef,
      protectionClass: g?.protectionClass ?? null,
      validFrom: null,
      validUntil: p.learnedBy,
      why: `${p.kind} taken by ${p.system} at ${p.revokedAt}; offline locks learn it when the keys are next updated, at the latest by ${p.learnedBy}`,
      roles: [],
      lastUsed: null,
      justified: false,
      stillOnKeysUntil: p.learnedBy,
    });
  }
  return rows;
}

const CSV_COLUMNS: Array<keyof AccessReportRow> = [
  'system',
  'accountId',
  'accountState',
  'userName',
  'displayName',
  'employeeType',
  'department',
  'accessGroupId',
  'accessGroup',
  'groupRef',
  'protectionClass',
  'validFrom',
  'validUntil',
  'why',
  'roles',
  'lastUsed',
  'justified',
  'stillOnKeysUntil',
  'violations',
];

export { toCsv };

export function accessReportCsv(rows: AccessReportRow[]): string {
  return toCsv(rows, CSV_COLUMNS);
}

export interface RoleReport {
  /** role bundle → the people holding doors through it */
  holders: Array<{
    role: string;
    userName: string | null;
    displayName: string;
    system: string;
    accessGroup: string;
    protectionClass: number | null;
    validUntil: string | null;
  }>;
  /** role bundle → the access groups it opens (the role-to-door matrix) */
  matrix: Array<{ role: string; accessGroupId: string; accessGroup: string; system: string; protectionClass: number; via: string }>;
}

/** The access report grouped by role: who holds a role, and what each role opens. */
export function roleReport(ctx: EngineContext, rows: AccessReportRow[]): RoleReport {
  const holders: RoleReport['holders'] = [];
  for (const r of rows)
    for (const role of r.roles)
      holders.push({
        role,
        userName: r.userName,
        displayName: r.displayName,
        system: r.system,
        accessGroup: r.accessGroup,
        protectionClass: r.protectionClass,
        validUntil: r.validUntil,
      });
  holders.sort((a, b) => a.role.localeCompare(b.role) || String(a.userName).localeCompare(String(b.userName)));
  const matrix: RoleReport['matrix'] = [];
  for (const role of ctx.policy.roles.values()) {
    for (const g of role.grants) {
      const ag = ctx.policy.accessGroups.get(g.accessGroupId);
      if (!ag) continue;
      matrix.push({
        role: role.id,
        accessGroupId: ag.id,
        accessGroup: ag.name,
        system: ag.system,
        protectionClass: ag.protectionClass,
        via: g.chain.join(' > '),
      });
    }
  }
  // rules that grant access groups themselves, not through a bundle: rows of their own (`rule staff`)
  for (const rule of ctx.policy.mappings.rules) {
    for (const id of rule.grant ?? []) {
      const ag = ctx.policy.accessGroups.get(id);
      if (!ag) continue;
      matrix.push({
        role: `rule ${rule.id}`,
        accessGroupId: ag.id,
        accessGroup: ag.name,
        system: ag.system,
        protectionClass: ag.protectionClass,
        via: `rule ${rule.id}`,
      });
    }
  }
  return { holders, matrix };
}
