/**
 * Access exceptions as reconcile offers them to the API and the CLI: who and which group are
 * checked against the store and the policy, the exception is recorded with its audit entry,
 * and the caller then reconciles the person so the revocation happens at once (through the
 * guard and the revocation budget, as every revocation does).
 */
import { LockstepError } from '../domain/errors.js';
import type { AccessException, ExceptionSource } from '../domain/governance.js';
import { endOfDayIfDate, type Identity } from '../domain/identity.js';
import { findIdentityByUserName, getIdentity } from '../store/identities.js';
import { getException, insertException, listExceptions, removeException } from '../store/access-exceptions.js';
import type { EngineContext } from '../reconcile/types.js';

export interface ExceptionRequest {
  /** userName or identity id. */
  who: string;
  accessGroupId: string;
  /** ISO date (the end of that day, UTC) or date-time. */
  until: string;
  reason: string;
  actor: string;
  source?: ExceptionSource;
  sourceRef?: string | null;
}

/** The identity a userName or id names; 404 naming `field` otherwise. */
export async function findPerson(ctx: EngineContext, who: string, field: string): Promise<Identity> {
  const identity = (await findIdentityByUserName(ctx.db, who)) ?? (await getIdentity(ctx.db, who));
  if (!identity || identity.deletedAt) throw new LockstepError('not_found', `no identity with userName or id ${JSON.stringify(who)}`, { field });
  return identity;
}

/** An ISO date or date-time in the future, as an instant; 400 naming `field` otherwise. */
export function futureInstant(ctx: EngineContext, value: string, field: string): string {
  const t = /^\d{4}-\d{2}-\d{2}(T[0-9:.]+(Z|[+-]\d{2}:\d{2}))?$/.test(value) ? Date.parse(endOfDayIfDate(value)) : Number.NaN;
  if (Number.isNaN(t))
    throw new LockstepError(
      'validation',
      `${field} must be an ISO date (2026-12-31) or date-time with a zone (2026-12-31T18:00:00Z): ${JSON.stringify(value)}`,
      { field },
    );
  const now = ctx.now();
  if (t <= now.getTime())
    throw new LockstepError('validation', `${field} ${new Date(t).toISOString()} is not in the future (now ${now.toISOString()})`, { field });
  return new Date(t).toISOString();
}

export async function createAccessException(ctx: EngineContext, r: ExceptionRequest): Promise<{ exception: AccessException; identity: Identity }> {
  const reason = r.reason.trim();
  if (reason === '') throw new LockstepError('validation', 'reason must say why (a review, a manual decision)', { field: 'reason' });
  const group = ctx.policy.accessGroups.get(r.accessGroupId);
  if (!group)
    throw new LockstepError('validation', `accessGroup ${JSON.stringify(r.accessGroupId)} is not an access group of the mappings`, { field: 'accessGroup' });
  const until = futureInstant(ctx, r.until, 'until');
  const identity = await findPerson(ctx, r.who, 'identity');
  const exception = await insertException(ctx.db, {
    identityId: identity.id,
    accessGroupId: group.id,
    until,
    reason,
    source: r.source ?? 'manual',
    sourceRef: r.sourceRef ?? null,
    actor: r.actor,
    at: ctx.now().toISOString(),
    audit: { userName: identity.userName, accessGroup: group.name, system: group.system, protectionClass: group.protectionClass },
  });
  return { exception, identity };
}

export async function removeAccessException(ctx: EngineContext, id: string, r: { actor: string; reason: string }): Promise<AccessException> {
  const reason = r.reason.trim();
  if (reason === '') throw new LockstepError('validation', 'reason must say why the exception ends early', { field: 'reason' });
  return removeException(ctx.db, id, { actor: r.actor, reason, at: ctx.now().toISOString() });
}

export async function findAccessExceptions(
  ctx: EngineContext,
  q: { who?: string; accessGroupId?: string; all?: boolean; limit?: number },
): Promise<AccessException[]> {
  const identityId = q.who === undefined ? undefined : (await findPerson(ctx, q.who, 'identity')).id;
  return listExceptions(ctx.db, { now: ctx.now(), all: q.all, identityId, accessGroupId: q.accessGroupId, limit: q.limit });
}

export { getException };
