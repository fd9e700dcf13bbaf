import nock from 'nock';
import { entraSourceSchema } from '../../../src/sources/entra/config.js';
import type { EntraSource } from '../../../src/sources/entra/pull.js';

export const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
export const CLIENT = '6731de76-14a6-49ae-97bc-6eba6914391e';
export const TOKEN = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.test-token';
export const GRAPH = 'https://graph.microsoft.com';

/** A GUID that reads back which test object it is. */
export const oid = (kind: 'u' | 'g' | 's' | 'r', n: number) =>
  `${kind === 'u' ? '0000aaaa' : kind === 'g' ? '0000bbbb' : kind === 's' ? '0000cccc' : '0000dddd'}-0000-4000-8000-${String(n).padStart(12, '0')}`;

export function source(name: string, extra: Record<string, unknown> = {}): EntraSource {
  return { ...entraSourceSchema.parse({ type: 'entra', tenantId: TENANT, clientId: CLIENT, clientSecret: 'not-a-real-secret', ...extra }), name };
}

/** The client-credentials token endpoint of Microsoft identity platform, answering every request. */
export function mockTokenEndpoint(): nock.Scope {
  return nock('https://login.microsoftonline.com')
    .persist()
    .post(
      `/${TENANT}/oauth2/v2.0/token`,
      (body: Record<string, string>) =>
        body.grant_type === 'client_credentials' &&
        body.client_id === CLIENT &&
        body.client_secret === 'not-a-real-secret' &&
        body.scope === 'https://graph.microsoft.com/.default',
    )
    .query(true)
    .reply(200, { token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599, access_token: TOKEN })
    .post(`/${TENANT}/oauth2/v2.0/token`, (body: Record<string, string>) => body.client_secret !== 'not-a-real-secret')
    .query(true)
    .reply(401, {
      error: 'invalid_client',
      error_description: `AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${CLIENT}'.`,
      error_codes: [7000215],
      timestamp: '2026-11-22 03:00:00Z',
      trace_id: '0c3b5a4e-8f8c-4c3a-9d5e-2f1b0c9a8e7d',
      correlation_id: '6f1d2c3b-4a5e-4f6a-8b7c-9d0e1f2a3b4c',
    });
}

/** Graph answering only requests that carry the token. */
export function graph(): nock.Scope {
  return nock(GRAPH, { reqheaders: { authorization: `Bearer ${TOKEN}` } });
}

type Links = { next: string } | { delta: string };

/** A delta page as Graph prints it: @odata.context, one of the links, value. */
export function deltaPage(collection: 'users' | 'groups', value: unknown[], links: Links, context?: string) {
  return {
    '@odata.context': context ?? `${GRAPH}/v1.0/$metadata#${collection}`,
    ...('next' in links
      ? { '@odata.nextLink': `${GRAPH}/v1.0/${collection}/delta?$skiptoken=${links.next}` }
      : { '@odata.deltaLink': `${GRAPH}/v1.0/${collection}/delta?$deltatoken=${links.delta}` }),
    value,
  };
}

export interface UserSpec {
  n: number;
  employeeId?: string | null;
  accountEnabled?: boolean;
  department?: string;
  jobTitle?: string;
  manager?: number;
  extra?: Record<string, unknown>;
}

/** A user with the properties lockstep selects, shaped like /users/delta returns them. */
export function user(s: UserSpec): Record<string, unknown> {
  const u: Record<string, unknown> = {
    accountEnabled: s.accountEnabled ?? true,
    companyName: 'Contoso Ltd',
    department: s.department ?? 'Operations',
    displayName: `Person ${s.n}`,
    employeeHireDate: '2021-03-01T00:00:00Z',
    employeeType: 'Employee',
    jobTitle: s.jobTitle ?? 'Technician',
    mail: `person${s.n}@contoso.com`,
    officeLocation: 'DC1',
    onPremisesExtensionAttributes: {
      extensionAttribute1: `cost-${s.n}`,
      extensionAttribute2: null,
    },
    userPrincipalName: `person${s.n}@contoso.com`,
    id: oid('u', s.n),
    ...s.extra,
  };
  if (s.employeeId !== null) u.employeeId = s.employeeId ?? `E${1000 + s.n}`;
  if (s.manager !== undefined) u['manager@delta'] = [{ '@odata.type': '#microsoft.graph.user', id: oid('u', s.manager) }];
  return u;
}

export const removedUser = (n: number, reason: 'changed' | 'deleted') => ({ id: oid('u', n), '@removed': { reason } });

export function group(n: number, name: string, members?: Array<number | { n: number; removed?: boolean; group?: boolean }>) {
  const g: Record<string, unknown> = { displayName: name, description: `${name} (test)`, id: oid('g', n) };
  if (members) {
    g['members@delta'] = members.map((m) => {
      const spec = typeof m === 'number' ? { n: m } : m;
      return {
        '@odata.type': spec.group ? '#microsoft.graph.group' : '#microsoft.graph.user',
        id: oid(spec.group ? 'g' : 'u', spec.n),
        ...(spec.removed ? { '@removed': { reason: 'deleted' } } : {}),
      };
    });
  }
  return g;
}

/** Query matchers: the first request of a round carries $select; later ones only a token. */
export const initialQuery = (q: Record<string, unknown>) => typeof q.$select === 'string' && !('$skiptoken' in q) && !('$deltatoken' in q);
export const skip = (token: string) => (q: Record<string, unknown>) => q.$skiptoken === token;
export const deltaTok = (token: string) => (q: Record<string, unknown>) => q.$deltatoken === token;
