/**
 * Access exceptions in evaluation: a group the rules grant is denied while an exception for it
 * is in force, with the exception as the reason; the evaluation looks again when it ends, so
 * the person is granted the group again then (if the rules still say so).
 */
import type { AccessException } from '../domain/governance.js';
import { exceptionInForce } from '../domain/governance.js';
import type { Entitlement } from '../domain/access.js';

/** The parts of an evaluation (evaluate.ts) exceptions change. */
interface Evaluated {
  leaver: boolean;
  entitlements: Entitlement[];
  denied: Array<{ accessGroupId: string; rule: string; reason: string; exception?: ExceptionRef }>;
  nextCheckAt: string | null;
}

/** What a denial by exception says: which exception, until when, why, by whom. */
export interface ExceptionRef {
  id: string;
  until: string;
  reason: string;
  source: AccessException['source'];
  sourceRef: string | null;
  createdBy: string;
}

export function exceptionReason(x: Pick<AccessException, 'id' | 'until' | 'reason' | 'source' | 'sourceRef' | 'createdBy'>): string {
  const from = x.source === 'review' ? `access review ${x.sourceRef ?? ''}`.trim() : `${x.createdBy}`;
  return `denied by exception ${x.id} until ${x.until} (${from}): ${x.reason}`;
}

/** The evaluation with every granted group that an exception in force covers moved to denied. */
export function applyExceptions<E extends Evaluated>(e: E, exceptions: readonly AccessException[] | undefined, now: Date): E {
  if (exceptions === undefined || exceptions.length === 0 || e.leaver) return e;
  const byGroup = new Map<string, AccessException>();
  for (const x of exceptions) {
    if (!exceptionInForce(x, now)) continue;
    // several for one group: the one lasting longest is what denies it
    const had = byGroup.get(x.accessGroupId);
    if (had === undefined || Date.parse(x.until) > Date.parse(had.until)) byGroup.set(x.accessGroupId, x);
  }
  if (byGroup.size === 0) return e;
  let next = e.nextCheckAt === null ? Infinity : Date.parse(e.nextCheckAt);
  const entitlements: Entitlement[] = [];
  const denied = [...e.denied];
  for (const ent of e.entitlements) {
    const x = byGroup.get(ent.accessGroup.id);
    if (x === undefined) {
      entitlements.push(ent);
      continue;
    }
    denied.push({
      accessGroupId: ent.accessGroup.id,
      rule: ent.reasons.map((r) => r.rule).join(', '),
      reason: exceptionReason(x),
      exception: { id: x.id, until: x.until, reason: x.reason, source: x.source, sourceRef: x.sourceRef, createdBy: x.createdBy },
    });
    const end = Date.parse(x.until);
    if (end > now.getTime() && end < next) next = end;
  }
  return { ...e, entitlements, denied, nextCheckAt: next === Infinity ? null : new Date(next).toISOString() };
}
