import type { Plan } from '../domain/plan.js';
import type { GuardPolicy } from '../policy/schema.js';

export interface GuardVerdict {
  hold: boolean;
  /** People (identities or orphan accounts) who would lose access. */
  affected: number;
  scope: number;
  reason: string | null;
}

/**
 * Accidental-deletion prevention (cf. Entra provisioning): a run that would take access from
 * more than the configured share or number of people is held for approval. Small runs (fewer
 * than minRevocationsToHold people) are never held, so one leaver is never delayed.
 */
export function checkGuard(plan: Plan, scopeSize: number, g: GuardPolicy): GuardVerdict {
  const subjects = new Set<string>();
  for (const op of plan.operations) if (op.revocation) subjects.add(op.identityId ?? `${op.system}:${op.accountId}`);
  const affected = subjects.size;
  const pct = scopeSize > 0 ? (affected / scopeSize) * 100 : 100;
  if (affected < g.minRevocationsToHold) return { hold: false, affected, scope: scopeSize, reason: null };
  if (affected > g.maxRevocationsAbsolute || pct > g.maxRevocationsPercent) {
    return {
      hold: true,
      affected,
      scope: scopeSize,
      reason: `this run would take access from ${affected} of ${scopeSize} people (${pct.toFixed(1)}%), above the guard (${g.maxRevocationsPercent}% or ${g.maxRevocationsAbsolute} people): held until approved`,
    };
  }
  return { hold: false, affected, scope: scopeSize, reason: null };
}
