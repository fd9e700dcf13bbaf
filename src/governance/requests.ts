/**
 * Access requests as reconcile offers them to the API and the CLI: a person (or their manager,
 * or an operator on their behalf) asks for an access group or a role bundle for a time window;
 * the class limits are checked at once (a window over the class's maximum is refused naming
 * `until`; a non-employee in a sponsored class needs an active sponsor); the group's owner (any
 * approver where none is declared) and, for non-employees in sponsored classes, the sponsor
 * approve; the requester and the person never approve their own (four-eyes). Approved, it is a
 * time-bound grant policy evaluation adds (policy/evaluate.ts applyGrants), expiring on time.
 */
import { LockstepError } from '../domain/errors.js';
import type { AccessRequest, ApprovalStep } from '../domain/governance.js';
import { isLeaver, startOfDayIfDate, type Identity } from '../domain/identity.js';
import { sponsorStates } from '../store/identities.js';
import { decideRequest, getRequest, insertRequest, listRequests } from '../store/requests.js';
import { findPerson, futureInstant } from './exceptions.js';
import type { EngineContext } from '../reconcile/types.js';

/** Who is calling: what the audit log records, the names they sign in with, their roles. */
export interface Caller {
  actor: string;
  /** Sign-in name and email (a token's name; the CLI's user): matched against owners, sponsors and the person. */
  names: string[];
  roles: readonly string[];
}

export interface RequestInput {
  who: string;
  accessGroup?: string;
  role?: string;
  /** ISO date (start of that day, UTC) or date-time; default now. */
  from?: string;
  until: string;
  justification: string;
}

/** Refused for who the caller is (403): not the person or their manager, four-eyes, not this request's approver. */
export class GovernanceForbidden extends LockstepError {
  constructor(message: string, field: string) {
    super('precondition', message, { field, details: { rule: 'four-eyes' } });
  }
}

const lower = (s: string | null | undefined) => (s ?? '').trim().toLowerCase();
export const matches = (caller: Caller, ...refs: Array<string | null | undefined>) => {
  const names = new Set(caller.names.map(lower).filter((n) => n !== ''));
  return refs.some((r) => lower(r) !== '' && names.has(lower(r)));
};
const isPerson = (caller: Caller, i: Identity) => matches(caller, i.userName, i.email, i.externalId);

const DAY = 86_400_000;
const days = (ms: number) => Math.round((ms / DAY) * 100) / 100;

export async function createAccessRequest(ctx: EngineContext, input: RequestInput, caller: Caller): Promise<AccessRequest> {
  const { policy } = ctx;
  const justification = input.justification.trim();
  if (justification === '') throw new LockstepError('validation', 'justification must say why the access is needed', { field: 'justification' });
  if ((input.accessGroup === undefined) === (input.role === undefined)) {
    throw new LockstepError('validation', 'give one of accessGroup and role: the access group or the role bundle asked for', { field: 'accessGroup' });
  }
  let groups: string[];
  if (input.accessGroup !== undefined) {
    if (!policy.accessGroups.has(input.accessGroup))
      throw new LockstepError('validation', `accessGroup ${JSON.stringify(input.accessGroup)} is not an access group of the mappings`, {
        field: 'accessGroup',
      });
    groups = [input.accessGroup];
  } else {
    const role = policy.roles.get(input.role!);
    if (!role) throw new LockstepError('validation', `role ${JSON.stringify(input.role)} is not a role bundle of the mappings`, { field: 'role' });
    groups = [...new Set(role.grants.map((g) => g.accessGroupId))];
    if (groups.length === 0) throw new LockstepError('validation', `role ${input.role} grants no access groups`, { field: 'role' });
  }
  const now = ctx.now();
  const until = futureInstant(ctx, input.until, 'until');
  let from = now.toISOString();
  if (input.from !== undefined) {
    const t = /^\d{4}-\d{2}-\d{2}(T[0-9:.]+(Z|[+-]\d{2}:\d{2}))?$/.test(input.from) ? Date.parse(startOfDayIfDate(input.from)) : Number.NaN;
    if (Number.isNaN(t))
      throw new LockstepError('validation', `from must be an ISO date or date-time with a zone: ${JSON.stringify(input.from)}`, { field: 'from' });
    if (t > now.getTime()) from = new Date(t).toISOString();
  }
  if (Date.parse(until) <= Date.parse(from)) throw new LockstepError('validation', `until ${until} is not after from ${from}`, { field: 'until' });

  const identity = await findPerson(ctx, input.who, 'identity');
  if (isLeaver(identity, now))
    throw new LockstepError('validation', `${identity.userName} is a leaver: no access can be requested for them`, { field: 'identity' });
  // the person, their manager, or an operator on their behalf
  if (!isPerson(caller, identity) && !matches(caller, identity.manager) && !caller.roles.includes('operator')) {
    throw new GovernanceForbidden(
      `${caller.actor} may not request access for ${identity.userName}: only the person, their manager (${identity.manager ?? 'none recorded'}) or an operator may`,
      'identity',
    );
  }

  // class limits: the window, and a sponsor for non-employees
  const window = Date.parse(until) - Date.parse(from);
  const employee = policy.employeeTypes.has(lower(identity.employeeType));
  const sponsored: string[] = [];
  for (const id of groups) {
    const g = policy.accessGroups.get(id)!;
    const cls = policy.classes[g.protectionClass];
    if (cls.maxValidity !== null && window > cls.maxValidity.ms) {
      throw new LockstepError(
        'validation',
        `until: ${g.id} is protection class ${g.protectionClass}, which allows at most ${cls.maxValidity.text} (classes.${g.protectionClass} ${cls.maxValidity.setting}); the request asks for ${days(window)} days from ${from} to ${until}`,
        { field: 'until' },
      );
    }
    if (cls.sponsorRequired && !employee) sponsored.push(id);
  }
  let sponsorName: string | null = null;
  if (sponsored.length > 0) {
    const s = (await sponsorStates(ctx.db, [identity])).get(identity.id);
    const cls = policy.accessGroups.get(sponsored[0])!.protectionClass;
    if (
      !identity.sponsor ||
      !s ||
      !s.found ||
      s.id === identity.id ||
      isLeaver({ active: s.active, deletedAt: s.deletedAt, leaveDate: s.leaveDate ?? undefined }, now)
    ) {
      throw new LockstepError(
        'validation',
        `identity: ${identity.userName} is not an employee and class ${cls} (${sponsored.join(', ')}) requires an active sponsor; ${identity.sponsor ? `sponsor ${JSON.stringify(identity.sponsor)} is not an active identity` : 'none is recorded'}`,
        { field: 'identity' },
      );
    }
    sponsorName = s.userName;
  }

  const steps: ApprovalStep[] = [];
  const byOwner = new Map<string | null, string[]>();
  for (const id of groups) {
    const owner = policy.mappings.accessGroups.find((g) => g.id === id)?.owner ?? null;
    byOwner.set(owner, [...(byOwner.get(owner) ?? []), id]);
  }
  for (const [owner, gs] of byOwner)
    steps.push({ kind: owner === null ? 'approver' : 'owner', who: owner, groups: gs, approvedBy: null, approvedAt: null, comment: null });
  if (sponsorName !== null) steps.push({ kind: 'sponsor', who: sponsorName, groups: sponsored, approvedBy: null, approvedAt: null, comment: null });

  return insertRequest(ctx.db, {
    identityId: identity.id,
    kind: input.accessGroup !== undefined ? 'accessGroup' : 'role',
    target: input.accessGroup ?? input.role!,
    groups,
    validFrom: from,
    validUntil: until,
    justification,
    steps,
    requestedBy: caller.actor,
    createdAt: now.toISOString(),
    audit: { userName: identity.userName },
  });
}

async function pending(ctx: EngineContext, id: string): Promise<{ request: AccessRequest; identity: Identity }> {
  const request = await getRequest(ctx.db, id);
  if (!request) throw new LockstepError('not_found', `no request ${id}`, { field: 'id' });
  if (request.status !== 'pending')
    throw new LockstepError('precondition', `request ${id} is ${request.status} already (${request.decidedAt} by ${request.decidedBy})`, { field: 'id' });
  const identity = await findPerson(ctx, request.identityId, 'id');
  return { request, identity };
}

/** The open steps this caller may give; refused (four-eyes) when they asked for it or it is for them. */
function stepsFor(request: AccessRequest, identity: Identity, caller: Caller): number[] {
  if (caller.actor === request.requestedBy)
    throw new GovernanceForbidden(`four-eyes: ${caller.actor} asked for request ${request.id} and cannot decide it`, 'id');
  if (isPerson(caller, identity)) throw new GovernanceForbidden(`four-eyes: request ${request.id} is for ${identity.userName}, who cannot decide it`, 'id');
  const open = request.steps.map((s, i) => ({ s, i })).filter(({ s }) => s.approvedBy === null);
  const mine = open.filter(({ s }) => (s.who === null ? caller.roles.includes('approver') : matches(caller, s.who))).map(({ i }) => i);
  if (mine.length === 0) {
    const waiting = open.map(({ s }) => (s.who === null ? 'an approver' : `${s.kind} ${s.who}`)).join(' and ');
    throw new GovernanceForbidden(`request ${request.id} waits for ${waiting}; ${caller.actor} is not one of them`, 'id');
  }
  return mine;
}

/** Gives the caller's approvals; the request is approved once every step is. */
export async function approveAccessRequest(ctx: EngineContext, id: string, caller: Caller, comment: string | null): Promise<AccessRequest> {
  const { request, identity } = await pending(ctx, id);
  if (Date.parse(request.validUntil) <= ctx.now().getTime())
    throw new LockstepError('precondition', `request ${id} asked for access until ${request.validUntil}, which has passed: ask again`, { field: 'id' });
  const mine = new Set(stepsFor(request, identity, caller));
  const at = ctx.now().toISOString();
  const steps = request.steps.map((s, i) => (mine.has(i) ? { ...s, approvedBy: caller.actor, approvedAt: at, comment } : s));
  const done = steps.every((s) => s.approvedBy !== null);
  return decideRequest(ctx.db, request.id, {
    steps,
    status: done ? 'approved' : 'pending',
    actor: caller.actor,
    at,
    comment,
    action: done ? 'request.approved' : 'request.approval',
    audit: {
      userName: identity.userName,
      steps: [...mine].map((i) => steps[i].kind),
      approvedBy: [...new Set(steps.map((s) => s.approvedBy).filter(Boolean))],
    },
  });
}

export async function denyAccessRequest(ctx: EngineContext, id: string, caller: Caller, comment: string): Promise<AccessRequest> {
  if (comment.trim() === '') throw new LockstepError('validation', 'comment must say why the request is denied', { field: 'comment' });
  const { request, identity } = await pending(ctx, id);
  stepsFor(request, identity, caller);
  return decideRequest(ctx.db, request.id, {
    steps: request.steps,
    status: 'denied',
    actor: caller.actor,
    at: ctx.now().toISOString(),
    comment: comment.trim(),
    action: 'request.denied',
    audit: { userName: identity.userName },
  });
}

export async function findAccessRequests(ctx: EngineContext, q: { who?: string; status?: AccessRequest['status']; limit?: number }): Promise<AccessRequest[]> {
  const identityId = q.who === undefined ? undefined : (await findPerson(ctx, q.who, 'identity')).id;
  return listRequests(ctx.db, { identityId, status: q.status, limit: q.limit });
}
