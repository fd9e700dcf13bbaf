/**
 * Invariants (issue 27): what must always be true of the doors, whatever the rules grant.
 *
 * - `separate`: segregation of duties. No one holds two of these access groups (the cash room
 *   and its audit-log room), or carries two of these role bundles.
 * - `scope` + `require`: who may hold a group in scope at all (only employees, only people whose
 *   training certificate has not expired, only those a filter matches).
 * - `scope` + `maxHolders`: at most N people per access group in scope.
 *
 * Two different answers, on purpose:
 * - A grant that would break an invariant is refused: evaluation moves it to `denied` with the
 *   invariant as its reason (explain, plan, audit), so it is never sent to a lock system.
 * - Access a person already holds (held: what the lock systems hold, or what lockstep granted
 *   earlier, its anchors) that breaks one is kept and reported as a violation. Nothing is
 *   revoked by an invariant on its own: a review (reviews `scope: { violations: true }`) or an
 *   operator (an access exception) decides, and that revocation goes through the guard like
 *   any other. Taking access away because a mapping gained a line is the kind of mass change
 *   the design holds for approval; a refusal of something not yet given costs nobody a door.
 *
 * Evaluation stays cheap: with no invariants nothing here runs; with some, each entitlement
 * looks up the invariants of its group (an index built once per policy) and separations
 * count members with a set per identity. maxHolders counts come from the caller, once per
 * plan (HolderCounts).
 */
import type { Entitlement, Reason } from '../domain/access.js';
import { endOfDayIfDate, type Identity } from '../domain/identity.js';
import { isoInstantMs } from '../domain/time.js';
import type { InvariantViolation } from '../domain/plan.js';
import { attributeName, identityView, lookupIdentity, matchFilter, parseFilter, type CompiledFilter } from './filter.js';
import type { InvariantSpec, Mappings } from './schema.js';

export interface CompiledRequirement {
  employee: boolean;
  /** Attribute holding a date that must not have passed. */
  unexpired: string | null;
  when: CompiledFilter | null;
  whenText: string | null;
}

export interface CompiledInvariant {
  id: string;
  description?: string;
  /** Access groups no one may hold two of. */
  separateGroups: ReadonlySet<string> | null;
  /** Role bundles no one may carry two of. */
  separateRoles: ReadonlySet<string> | null;
  /** Access groups `require` and `maxHolders` apply to. */
  scope: ReadonlySet<string> | null;
  require: CompiledRequirement | null;
  maxHolders: number | null;
  /** What it says, in words for reasons and reports. */
  text: string;
}

export interface CompiledInvariants {
  list: readonly CompiledInvariant[];
  /** By access group id: the invariants that name it (scope or separate.accessGroups). */
  byGroup: ReadonlyMap<string, readonly CompiledInvariant[]>;
  separations: readonly CompiledInvariant[];
  roleSeparations: readonly CompiledInvariant[];
  /** By role bundle id: the role separations that name it. */
  byRole: ReadonlyMap<string, readonly CompiledInvariant[]>;
  /** Groups some maxHolders invariant counts. */
  counted: ReadonlySet<string>;
}

export const NO_INVARIANTS: CompiledInvariants = Object.freeze({
  list: [],
  byGroup: new Map(),
  separations: [],
  roleSeparations: [],
  byRole: new Map(),
  counted: new Set<string>(),
});

/** The access groups an invariant's scope names (a class: every group of it). */
export function scopeGroupsOf(spec: NonNullable<InvariantSpec['scope']>, m: Pick<Mappings, 'accessGroups'>): Set<string> {
  const out = new Set(spec.accessGroups ?? []);
  if (spec.protectionClass !== undefined) for (const g of m.accessGroups) if (g.protectionClass === spec.protectionClass) out.add(g.id);
  return out;
}

function requirementText(r: CompiledRequirement): string {
  const parts: string[] = [];
  if (r.employee) parts.push('employees');
  if (r.unexpired) parts.push(`with ${r.unexpired} not yet past`);
  if (r.whenText) parts.push(`matching ${r.whenText}`);
  return parts.join(', ');
}

function textOf(spec: InvariantSpec, scope: Set<string> | null, require: CompiledRequirement | null): string {
  if (spec.separate?.accessGroups) return `no one holds two of ${spec.separate.accessGroups.join(', ')}`;
  if (spec.separate?.roles) return `no one carries two of the role bundles ${spec.separate.roles.join(', ')}`;
  const where = spec.scope?.protectionClass !== undefined ? `class ${spec.scope.protectionClass}` : [...(scope ?? [])].join(', ');
  const parts: string[] = [];
  if (require) parts.push(`${where} only for ${requirementText(require)}`);
  if (spec.maxHolders !== undefined) parts.push(`at most ${spec.maxHolders} people per group of ${where}`);
  return parts.join('; ');
}

/** Compiles validated invariants (references checked by compile's checkMappings). */
export function compileInvariants(m: Mappings): CompiledInvariants {
  if (m.invariants.length === 0) return NO_INVARIANTS;
  const list: CompiledInvariant[] = [];
  const byGroup = new Map<string, CompiledInvariant[]>();
  const byRole = new Map<string, CompiledInvariant[]>();
  const counted = new Set<string>();
  const index = (g: string, x: CompiledInvariant) => {
    const l = byGroup.get(g);
    if (l === undefined) byGroup.set(g, [x]);
    else if (!l.includes(x)) l.push(x);
  };
  for (const spec of m.invariants) {
    const scope = spec.scope ? scopeGroupsOf(spec.scope, m) : null;
    const require: CompiledRequirement | null = spec.require
      ? {
          employee: spec.require.employee === true,
          unexpired: spec.require.unexpired ?? null,
          when: spec.require.when ? parseFilter(spec.require.when) : null,
          whenText: spec.require.when ?? null,
        }
      : null;
    const x: CompiledInvariant = {
      id: spec.id,
      ...(spec.description !== undefined ? { description: spec.description } : {}),
      separateGroups: spec.separate?.accessGroups ? new Set(spec.separate.accessGroups) : null,
      separateRoles: spec.separate?.roles ? new Set(spec.separate.roles) : null,
      scope,
      require,
      maxHolders: spec.maxHolders ?? null,
      text: textOf(spec, scope, require),
    };
    list.push(x);
    for (const g of x.separateGroups ?? []) index(g, x);
    for (const b of x.separateRoles ?? []) byRole.set(b, [...(byRole.get(b) ?? []), x]);
    for (const g of scope ?? []) index(g, x);
    if (x.maxHolders !== null) for (const g of scope ?? []) counted.add(g);
  }
  return {
    list,
    byGroup,
    separations: list.filter((x) => x.separateGroups !== null),
    roleSeparations: list.filter((x) => x.separateRoles !== null),
    byRole,
    counted,
  };
}

/**
 * How many people hold each counted access group, kept once per plan: seeded with the holders
 * on record, and each admitted new grant adds one, so the (N+1)th new holder in a plan is
 * refused. Runs side by side in other processes may still pass N together; the violation report
 * counts what the lock systems hold and says so.
 */
export interface HolderCounts {
  count(accessGroupId: string): number;
  add(accessGroupId: string): void;
}

export function holderCounts(seed: ReadonlyMap<string, number> | Record<string, number> = {}): HolderCounts {
  const m = new Map<string, number>(seed instanceof Map ? seed : Object.entries(seed));
  return {
    count: (g) => m.get(g) ?? 0,
    add: (g) => void m.set(g, (m.get(g) ?? 0) + 1),
  };
}

/** Why the identity does not meet the requirement (null: it does), and when a met `unexpired` runs out. */
function unmet(r: CompiledRequirement, identity: Identity, employeeTypes: ReadonlySet<string>, now: number): { why: string | null; until: number | null } {
  if (r.employee && !employeeTypes.has((identity.employeeType ?? '').toLowerCase())) {
    return {
      why: `only employees (employeeTypes); this identity's employeeType is ${identity.employeeType ? JSON.stringify(identity.employeeType) : 'not set'}`,
      until: null,
    };
  }
  let until: number | null = null;
  if (r.unexpired !== null) {
    const v = lookupIdentity(identity, attributeName(r.unexpired))?.value;
    if (v === undefined || v === null || v === '') return { why: `requires ${r.unexpired} (a date not yet past); this identity has none`, until: null };
    const t = typeof v === 'string' && !Number.isNaN(isoInstantMs(v)) ? Date.parse(endOfDayIfDate(v)) : Number.NaN;
    if (Number.isNaN(t)) return { why: `requires ${r.unexpired} to be a date; it is ${JSON.stringify(v)}`, until: null };
    if (t <= now) return { why: `requires ${r.unexpired} not yet past; it ended ${String(v)}`, until: null };
    until = t;
  }
  if (r.when !== null && !matchFilter(r.when, identityView(identity)).matched) {
    return { why: `requires ${r.whenText}; this identity does not match it`, until: null };
  }
  return { why: null, until };
}

/** The parts of an evaluation invariants read and change (policy/evaluate.ts Evaluation). */
interface Evaluated {
  leaver: boolean;
  entitlements: Entitlement[];
  denied: Array<{ accessGroupId: string; rule: string; reason: string; invariant?: string }>;
  nextCheckAt: string | null;
  violations?: InvariantViolation[];
}

export interface InvariantOptions {
  now: Date;
  /**
   * Access groups the person holds now (the lock systems' memberships, or the groups lockstep
   * granted before, as its anchors record them): kept, and reported if they break an invariant.
   * Everything else an invariant would break is refused. Without it: the groups of `anchors`.
   */
  held?: ReadonlySet<string>;
  /** When each entitlement began (evaluate's anchors): what lockstep granted before, held unless `held` says. */
  anchors?: Record<string, string>;
  /** maxHolders' counts for this plan; without it maxHolders refuses nothing (it is still reported). */
  holders?: HolderCounts;
  employeeTypes: ReadonlySet<string>;
}

/** Role bundles a reason carries the group through (the chain, or the one bundle). */
function bundlesOf(r: Reason): readonly string[] {
  return r.roleChain ?? (r.role !== undefined ? [r.role] : NONE);
}
const NONE: readonly string[] = [];

/**
 * Applies the invariants to one evaluation: refuses what would break one, keeps (and reports)
 * held access that breaks one. Returns `e` itself when nothing changes.
 */
export function applyInvariants<E extends Evaluated>(e: E, identity: Identity, inv: CompiledInvariants, opts: InvariantOptions): E {
  if (inv.list.length === 0 || e.leaver || e.entitlements.length === 0) return e;
  // only the invariants this person's groups and bundles touch are looked at: most people touch few or none
  let touched: Set<CompiledInvariant> | null = null;
  for (const ent of e.entitlements) {
    const list = inv.byGroup.get(ent.accessGroup.id);
    if (list !== undefined) for (const x of list) (touched ??= new Set()).add(x);
    if (inv.byRole.size === 0) continue;
    for (const r of ent.reasons) {
      for (const b of bundlesOf(r)) {
        const l = inv.byRole.get(b);
        if (l !== undefined) for (const x of l) (touched ??= new Set()).add(x);
      }
    }
  }
  const o = { ...opts, held: opts.held ?? heldOnRecord(opts.anchors) };
  if (touched === null) {
    countAdmitted(e.entitlements, inv, o);
    return e;
  }
  const now = o.now.getTime();
  const refused = new Map<string, { invariant: string; why: string }>();
  const violations: InvariantViolation[] = [];
  let next = e.nextCheckAt === null ? Infinity : Date.parse(e.nextCheckAt);
  const refuse = (g: string, x: CompiledInvariant, why: string) => {
    if (!refused.has(g)) refused.set(g, { invariant: x.id, why });
  };
  const violate = (x: CompiledInvariant, groups: string[], why: string) => {
    violations.push({ invariant: x.id, identityId: identity.id, userName: identity.userName, accessGroupIds: groups, message: `${x.text}: ${why}` });
  };

  // requirements and maxHolders, group by group
  let requirements: Map<CompiledInvariant, { why: string | null; until: number | null }> | null = null;
  let heldBreaking: Map<CompiledInvariant, { groups: string[]; why: string }> | null = null;
  for (const ent of e.entitlements) {
    const g = ent.accessGroup.id;
    const list = inv.byGroup.get(g);
    if (list === undefined) continue;
    for (const x of list) {
      if (x.scope === null || !x.scope.has(g)) continue;
      if (x.require !== null) {
        requirements ??= new Map();
        let r = requirements.get(x);
        if (r === undefined) {
          r = unmet(x.require, identity, o.employeeTypes, now);
          requirements.set(x, r);
          // the day the certificate runs out is the day new grants stop: look again then
          if (r.until !== null && r.until > now && r.until < next) next = r.until;
        }
        if (r.why !== null) {
          if (o.held.has(g)) {
            heldBreaking ??= new Map();
            const h = heldBreaking.get(x);
            if (h === undefined) heldBreaking.set(x, { groups: [g], why: r.why });
            else h.groups.push(g);
          } else refuse(g, x, r.why);
        }
      }
      if (x.maxHolders !== null && o.holders !== undefined && !o.held.has(g) && !refused.has(g)) {
        const n = o.holders.count(g);
        if (n >= x.maxHolders) refuse(g, x, `${n} people hold ${g} already (at most ${x.maxHolders})`);
      }
    }
  }
  for (const [x, h] of heldBreaking ?? []) violate(x, h.groups, `holds ${h.groups.join(', ')}; ${h.why}`);

  // separation of access groups, among what is left
  for (const x of touched) {
    if (x.separateGroups === null) continue;
    let members: string[] | null = null;
    for (const ent of e.entitlements) {
      const g = ent.accessGroup.id;
      if (x.separateGroups.has(g) && !refused.has(g)) (members ??= []).push(g);
    }
    if (members === null || members.length < 2) continue;
    const kept = members.filter((g) => o.held.has(g));
    for (const g of members) {
      if (o.held.has(g)) continue;
      const others = members.filter((m) => m !== g);
      refuse(g, x, `would be held together with ${others.join(', ')}`);
    }
    if (kept.length >= 2) violate(x, kept, `holds ${kept.join(' and ')} together`);
  }

  // separation of role bundles: the bundles the person's entitlements come through
  let stripped: Map<string, Reason[]> | null = null;
  for (const x of touched) {
    if (x.separateRoles === null) continue;
    const carried = new Set<string>();
    for (const ent of e.entitlements) {
      if (refused.has(ent.accessGroup.id)) continue;
      for (const r of ent.reasons) for (const b of bundlesOf(r)) if (x.separateRoles.has(b)) carried.add(b);
    }
    if (carried.size < 2) continue;
    const via = (r: Reason) => bundlesOf(r).some((b) => carried.has(b));
    // in the invariant's own order, so the words do not depend on the rules' order
    const names = [...x.separateRoles].filter((b) => carried.has(b)).join(' and ');
    const keptGroups: string[] = [];
    for (const ent of e.entitlements) {
      const g = ent.accessGroup.id;
      if (refused.has(g) || !ent.reasons.some(via)) continue;
      if (o.held.has(g)) {
        keptGroups.push(g);
        continue;
      }
      // what else justifies the group stays; the conflicting bundles' part goes
      const rest = (stripped?.get(g) ?? ent.reasons).filter((r) => !via(r));
      if (rest.length === 0) refuse(g, x, `would carry the role bundles ${names} together`);
      else (stripped ??= new Map()).set(g, rest);
    }
    if (keptGroups.length > 0) violate(x, keptGroups, `carries the role bundles ${names} together (held: ${keptGroups.join(', ')})`);
  }

  if (refused.size === 0 && violations.length === 0 && stripped === null && next === (e.nextCheckAt === null ? Infinity : Date.parse(e.nextCheckAt))) {
    countAdmitted(e.entitlements, inv, o);
    return e;
  }
  const entitlements: Entitlement[] = [];
  const denied = [...e.denied];
  for (const ent of e.entitlements) {
    const r = refused.get(ent.accessGroup.id);
    if (r !== undefined) {
      denied.push({
        accessGroupId: ent.accessGroup.id,
        rule: ent.reasons.map((x) => x.rule).join(', '),
        reason: `refused by invariant ${r.invariant}: ${r.why}`,
        invariant: r.invariant,
      });
      continue;
    }
    const rest = stripped?.get(ent.accessGroup.id);
    entitlements.push(rest === undefined ? ent : { ...ent, reasons: rest });
  }
  countAdmitted(entitlements, inv, o);
  const out = { ...e, entitlements, denied, nextCheckAt: next === Infinity ? null : new Date(next).toISOString() };
  if (violations.length > 0) out.violations = [...(e.violations ?? []), ...violations];
  return out;
}

const NOTHING_HELD: ReadonlySet<string> = new Set();

/** The groups lockstep granted before (their anchors), as the default of what a person holds. */
function heldOnRecord(anchors: Record<string, string> | undefined): ReadonlySet<string> {
  if (anchors === undefined) return NOTHING_HELD;
  const keys = Object.keys(anchors);
  return keys.length === 0 ? NOTHING_HELD : new Set(keys);
}

/** New holders of counted groups take their place in this plan's count. */
function countAdmitted(entitlements: readonly Entitlement[], inv: CompiledInvariants, o: InvariantOptions & { held: ReadonlySet<string> }): void {
  if (o.holders === undefined || inv.counted.size === 0) return;
  for (const ent of entitlements) if (inv.counted.has(ent.accessGroup.id) && !o.held.has(ent.accessGroup.id)) o.holders.add(ent.accessGroup.id);
}

/**
 * What the access a person actually holds breaks (the violation report, the plan's violations):
 * held, the access groups the lock systems hold for them now; reasons, the evaluation's
 * entitlements (which role bundles carry each group) when there is one. maxHolders is counted
 * across people by the caller (overHolders).
 */
export function heldViolations(
  identity: Identity,
  held: ReadonlySet<string>,
  entitlements: readonly Entitlement[],
  inv: CompiledInvariants,
  employeeTypes: ReadonlySet<string>,
  now: Date,
): InvariantViolation[] {
  if (inv.list.length === 0 || held.size === 0) return NO_VIOLATIONS;
  let out: InvariantViolation[] | null = null;
  const push = (x: CompiledInvariant, groups: string[], why: string) => {
    (out ??= []).push({ invariant: x.id, identityId: identity.id, userName: identity.userName, accessGroupIds: groups, message: `${x.text}: ${why}` });
  };
  for (const x of inv.list) {
    if (x.separateGroups !== null) {
      const both = [...held].filter((g) => x.separateGroups!.has(g));
      if (both.length >= 2) push(x, both, `holds ${both.join(' and ')} together`);
    } else if (x.separateRoles !== null) {
      const carried = new Set<string>();
      const groups: string[] = [];
      for (const ent of entitlements) {
        if (!held.has(ent.accessGroup.id)) continue;
        let through = false;
        for (const r of ent.reasons)
          for (const b of bundlesOf(r))
            if (x.separateRoles.has(b)) {
              carried.add(b);
              through = true;
            }
        if (through) groups.push(ent.accessGroup.id);
      }
      if (carried.size >= 2)
        push(x, groups, `carries the role bundles ${[...x.separateRoles].filter((b) => carried.has(b)).join(' and ')} together (held: ${groups.join(', ')})`);
    } else if (x.require !== null && x.scope !== null) {
      const inScope = [...held].filter((g) => x.scope!.has(g));
      if (inScope.length === 0) continue;
      const r = unmet(x.require, identity, employeeTypes, now.getTime());
      if (r.why !== null) push(x, inScope, `holds ${inScope.join(', ')}; ${r.why}`);
    }
  }
  return out ?? NO_VIOLATIONS;
}
const NO_VIOLATIONS: InvariantViolation[] = [];

/** Groups held by more people than a maxHolders invariant allows, from counts of actual holders. */
export function overHolders(counts: ReadonlyMap<string, number>, inv: CompiledInvariants): InvariantViolation[] {
  const out: InvariantViolation[] = [];
  for (const x of inv.list) {
    if (x.maxHolders === null || x.scope === null) continue;
    for (const g of x.scope) {
      const n = counts.get(g) ?? 0;
      if (n > x.maxHolders) out.push({ invariant: x.id, identityId: null, userName: null, accessGroupIds: [g], message: `${x.text}: ${n} people hold ${g}` });
    }
  }
  return out;
}
