import { isLeaver, type Identity } from '../domain/identity.js';
import { sponsorRef, type SponsorState } from '../domain/sponsor.js';
import type { CompiledPolicy } from '../policy/compile.js';
import { allSponsorsByRef, sponsorStates } from '../store/identities.js';
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
export async function loadSponsorStates(
  ctx: EngineContext,
  identities: readonly Identity[],
  now: Date,
  /** The sponsors a full run resolved for everyone at its start (allSponsors): only refs it did not ask about are read. */
  known?: AllSponsors,
): Promise<Map<string, SponsorState>> {
  const policy = ctx.policy;
  if (!anyClassRequiresSponsor(policy)) return new Map();
  const sponsored = identities.filter(
    (i) => typeof i.sponsor === 'string' && i.sponsor.trim() !== '' && !policy.employeeTypes.has((i.employeeType ?? '').toLowerCase()) && !isLeaver(i, now),
  );
  if (sponsored.length === 0) return new Map();
  if (known === undefined || known === null) return sponsorStates(ctx.db, sponsored);
  const out = new Map<string, SponsorState>();
  const rest = [];
  for (const i of sponsored) {
    const ref = sponsorRef(i)!;
    if (known.asked.has(ref)) out.set(i.id, known.byRef.get(ref) ?? NO_ONE);
    else rest.push(i);
  }
  if (rest.length) for (const [id, state] of await sponsorStates(ctx.db, rest)) out.set(id, state);
  return out;
}

const NO_ONE: SponsorState = { found: false };

/** Every sponsor a live identity names, resolved once for a full run; null when the policy needs none. */
export type AllSponsors = Awaited<ReturnType<typeof allSponsorsByRef>> | null;

export async function allSponsors(ctx: EngineContext): Promise<AllSponsors> {
  return anyClassRequiresSponsor(ctx.policy) ? allSponsorsByRef(ctx.db) : null;
}
