import { isLeaver, type Identity } from '../domain/identity.js';
import type { SponsorState } from '../domain/sponsor.js';
import type { CompiledPolicy } from '../policy/compile.js';
import { sponsorStates } from '../store/identities.js';
import type { EngineContext } from './types.js';

const requiresSponsor = new WeakMap<CompiledPolicy['classes'], boolean>();

function anyClassRequiresSponsor(policy: CompiledPolicy): boolean {
  let r = requiresSponsor.get(policy.classes);
  if (r === undefined) requiresSponsor.set(policy.classes, (r = Object.values(policy.classes).some((c) => c.sponsorRequired)));
  return r;
}

/**
 * The sponsors' states of those identities whose evaluation can depend on one (non-employees,
 * not leavers, with a sponsor, under a policy with a sponsorRequired class), by identity id,
 * in one store round trip; none at all when no one needs it (an estate of employees, or a
 * policy without sponsored classes). Pass `sponsor: map.get(id)` to evaluate.
 */
export async function loadSponsorStates(ctx: EngineContext, identities: readonly Identity[], now: Date): Promise<Map<string, SponsorState>> {
  const policy = ctx.policy;
  if (!anyClassRequiresSponsor(policy)) return new Map();
  const sponsored = identities.filter(
    (i) => typeof i.sponsor === 'string' && i.sponsor.trim() !== '' && !policy.employeeTypes.has((i.employeeType ?? '').toLowerCase()) && !isLeaver(i, now),
  );
  return sponsored.length === 0 ? new Map() : sponsorStates(ctx.db, sponsored);
}
