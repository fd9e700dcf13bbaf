/**
 * The SCIM users both servers of bench:scim are seeded with (and bench:jml provisions): core
 * and enterprise attributes only, as Entra ID sends them, so lockstep and the peer take the
 * very same bodies. Deterministic in the index, from the benches' estate generator.
 */
import { identityAt } from './lib/estate.js';

export const SCIM = {
  user: 'urn:ietf:params:scim:schemas:core:2.0:User',
  group: 'urn:ietf:params:scim:schemas:core:2.0:Group',
  enterprise: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User',
  patchOp: 'urn:ietf:params:scim:api:messages:2.0:PatchOp',
  listResponse: 'urn:ietf:params:scim:api:messages:2.0:ListResponse',
} as const;

export interface ScimUserBody {
  schemas: string[];
  externalId: string;
  userName: string;
  name: { givenName: string; familyName: string; formatted: string };
  displayName: string;
  active: boolean;
  title: string;
  emails: Array<{ value: string; type: string; primary: boolean }>;
  [SCIM.enterprise]: { employeeNumber: string; department: string; costCenter: string };
}

/** A fixed base instant: the generator draws dates from it, and these bodies carry none. */
const BASE_MS = Date.UTC(2025, 0, 1);

/**
 * User number i. `tag` makes userName and externalId unique per run (POSTs during the bench);
 * `department` overrides the generated one (bench:jml chooses departments the policy uses).
 */
export function scimUser(i: number, opts: { tag?: string; department?: string } = {}): ScimUserBody {
  const p = identityAt(i, { sites: 4, seed: 11, baseMs: BASE_MS });
  const [given = 'Anna', family = 'Schmidt'] = (p.displayName ?? '').split(' ');
  const suffix = opts.tag ? `.${opts.tag}` : '';
  const userName = `${p.userName}${suffix}@contoso.example`;
  return {
    schemas: [SCIM.user, SCIM.enterprise],
    externalId: `${p.externalId}${suffix}`,
    userName,
    name: { givenName: given, familyName: family, formatted: `${given} ${family}` },
    displayName: `${given} ${family}`,
    active: true,
    title: p.jobTitle ?? 'Specialist',
    emails: [{ value: userName, type: 'work', primary: true }],
    [SCIM.enterprise]: {
      employeeNumber: String(100000 + i),
      department: opts.department ?? p.department ?? 'Finance',
      costCenter: String(p.attributes?.costCenter ?? 'CC-1'),
    },
  };
}
