/**
 * Correlation conflicts in reconciliation. An identity whose externalId another live identity
 * also holds (store/correlation.ts) gets no access: its evaluation's entitlements become
 * denials whose reason names the other holder(s), it is diffed only against an account it is
 * already linked to (whose managed access is then revoked: lockstep cannot attest who holds
 * it), it is never linked to the account carrying the contested key, and no account is
 * created for it. Two people are never linked to one lock account. The conflict is reported
 * (plan warnings and `conflicts`, explain, the access report, lockstep_correlation_conflicts)
 * and ends by itself when the collision does: the next reconcile of either finds one holder.
 */
import type { Identity } from '../domain/identity.js';
import type { CorrelationConflict } from '../domain/plan.js';
import type { Evaluation } from '../policy/evaluate.js';
import { correlationConflicts, type KeyHolder } from '../store/correlation.js';
import type { EngineContext } from './types.js';

/** The conflicts among these identities, by identity id, in one store round trip. */
export async function loadConflicts(
  ctx: EngineContext,
  identities: readonly Identity[],
  known?: Map<string, KeyHolder[]>,
): Promise<Map<string, CorrelationConflict>> {
  const live = identities.filter((i) => !i.deletedAt);
  const out = new Map<string, CorrelationConflict>();
  if (live.length === 0) return out;
  // an identity-scoped run read them with its identities (store/links.ts loadIdentityScope)
  const found = known ?? (await correlationConflicts(ctx.db, live));
  if (found.size === 0) return out;
  for (const i of live) {
    const others = found.get(i.id);
    if (others) out.set(i.id, { identityId: i.id, userName: i.userName, externalId: i.externalId, heldBy: others });
  }
  return out;
}

export function conflictText(c: CorrelationConflict): string {
  const others = c.heldBy.map((o) => `${o.userName} (${o.id}, source ${o.source})`).join(', ');
  return `correlation conflict: externalId ${JSON.stringify(c.externalId)} is also held by ${others}; no access until only one identity holds it`;
}

/** The evaluation of a conflicted identity: nothing granted, each would-be grant denied with the conflict as its reason. */
export function withConflict(e: Evaluation, c: CorrelationConflict | undefined): Evaluation {
  if (!c || e.leaver) return e;
  const reason = conflictText(c);
  const denied = [...e.denied, ...e.entitlements.map((x) => ({ accessGroupId: x.accessGroup.id, rule: 'correlation', reason }))];
  return { ...e, entitlements: [], denied };
}
