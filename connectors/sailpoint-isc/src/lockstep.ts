/**
 * A small client for the lockstep admin API (/api/v1), as the connector uses it. Every
 * non-2xx answer becomes a ConnectorError whose message says what lockstep said: its
 * `{error: {code, message, field}}` body, 401 and 403 with what to fix in the source config.
 */
import { ConnectorError, ConnectorErrorType } from '@sailpoint/connector-sdk';
import type { components } from './generated/lockstep-api.js';

export interface SourceConfig {
  /** lockstep's address, e.g. https://lockstep.example.com (without /api/v1). */
  baseUrl: string;
  /** A bearer token from lockstep's auth.tokens with the operator role. */
  token: string;
  /** Days a SailPoint grant asks for (capped by the group's class maximum); default 90. */
  requestDays?: number | string;
  /** Days a SailPoint revocation denies the group for; default 365. */
  revokeDays?: number | string;
  /** Milliseconds one call to lockstep may take; default 30000. */
  timeoutMs?: number | string;
}

// The admin API's shapes, generated from lockstep's docs/openapi.json (npm run gen:types in
// lockstep's repository): a change in lockstep's API schemas is a type error here.
type Schemas = components['schemas'];

/** An access group the mappings declare, its class's longest window in whole days. */
export type AccessGroup = Omit<Schemas['AccessGroupList']['accessGroups'][number], 'maxValidity'> & { maxValidityDays: number | null };
export type Person = Schemas['PersonRow'];
export type ReportRow = Schemas['AccessReportRow'];
export type AccessRequest = Schemas['AccessRequest'];
export type AccessException = Schemas['AccessException'];
export type Explanation = Schemas['Explanation'];
export type Principal = Schemas['Principal'];
type RunRef = Pick<NonNullable<Schemas['RunStarted']>, 'runId' | 'queued'>;

function num(v: number | string | undefined, dflt: number, what: string): number {
  if (v === undefined || v === '' || v === null) return dflt;
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isInteger(n) || n < 1) throw new ConnectorError(`source config ${what} must be a whole number of at least 1 (got ${JSON.stringify(v)})`);
  return n;
}

/** The config, checked: a missing or malformed field is named. */
export function checkConfig(raw: unknown): Required<Pick<SourceConfig, 'baseUrl' | 'token'>> & { requestDays: number; revokeDays: number; timeoutMs: number } {
  const c = (raw ?? {}) as SourceConfig;
  if (typeof c.baseUrl !== 'string' || c.baseUrl.trim() === '')
    throw new ConnectorError('source config baseUrl is missing: the lockstep address, e.g. https://lockstep.example.com');
  let url: URL;
  try {
    url = new URL(c.baseUrl.trim());
  } catch {
    throw new ConnectorError(`source config baseUrl is not a URL: ${c.baseUrl}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ConnectorError(`source config baseUrl must be http(s): ${c.baseUrl}`);
  if (typeof c.token !== 'string' || c.token.trim() === '')
    throw new ConnectorError('source config token is missing: a lockstep auth.tokens token with the operator role');
  return {
    baseUrl: url
      .toString()
      .replace(/\/+$/, '')
      .replace(/\/api\/v1$/, ''),
    token: c.token.trim(),
    requestDays: num(c.requestDays, 90, 'requestDays'),
    revokeDays: num(c.revokeDays, 365, 'revokeDays'),
    timeoutMs: num(c.timeoutMs, 30_000, 'timeoutMs'),
  };
}

export type CheckedConfig = ReturnType<typeof checkConfig>;

export class LockstepClient {
  constructor(private readonly cfg: CheckedConfig) {}

  /** One JSON call; path is under the base URL (e.g. /api/v1/requests). */
  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.cfg.baseUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.cfg.token}`,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.cfg.timeoutMs),
      });
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new ConnectorError(`cannot reach lockstep at ${this.cfg.baseUrl} (${method} ${path}): ${cause?.code ?? cause?.message ?? (e as Error).message}`);
    }
    const text = await res.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    if (res.ok) return json as T;
    const err = (json as { error?: { code?: string; message?: string; field?: string; missing?: string[] } } | null)?.error;
    const said = err?.message ?? (text.slice(0, 300) || res.statusText);
    const field = err?.field ? ` (field ${err.field})` : '';
    if (res.status === 401)
      throw new ConnectorError(
        `lockstep refused the source's token (401 ${err?.code ?? 'auth'}: ${said}): check the token in the source config; it must be one of lockstep's auth.tokens`,
      );
    if (res.status === 403)
      throw new ConnectorError(
        `lockstep denied ${method} ${path} (403 ${err?.code ?? 'forbidden'}: ${said})${err?.missing ? `: give the source's token one of the roles ${err.missing.join(', ')} in lockstep's auth.tokens` : ''}`,
      );
    if (res.status === 404) throw new ConnectorError(`lockstep: ${said}${field}`, ConnectorErrorType.NotFound);
    throw new ConnectorError(`lockstep refused ${method} ${path} (${res.status} ${err?.code ?? 'error'}: ${said})${field}`);
  }

  me(): Promise<Principal> {
    return this.call('GET', '/auth/me');
  }

  /** The access groups the mappings declare, with their class limits and owner (GET /api/v1/access-groups). */
  async accessGroups(): Promise<AccessGroup[]> {
    const { accessGroups } = await this.call<Schemas['AccessGroupList']>('GET', '/api/v1/access-groups');
    return accessGroups.map((g) => ({
      id: g.id,
      system: g.system,
      ref: g.ref,
      name: g.name,
      protectionClass: g.protectionClass,
      owner: g.owner,
      // a request's window is in whole days: the longest whole number of days within the class's limit
      maxValidityDays: g.maxValidity ? Math.floor(g.maxValidity.ms / 86_400_000) : null,
      sponsorRequired: g.sponsorRequired,
    }));
  }

  /** People (the console's search route; at most 500, lockstep's page). */
  async people(q = ''): Promise<Schemas['PersonList']> {
    return this.call('GET', `/api/v1/identities?limit=500${q ? `&q=${encodeURIComponent(q)}` : ''}`);
  }

  explain(who: string): Promise<Explanation> {
    return this.call('GET', `/api/v1/identities/${encodeURIComponent(who)}/explain`);
  }

  async report(): Promise<ReportRow[]> {
    return (await this.call<{ rows: ReportRow[] }>('GET', '/api/v1/reports/access')).rows;
  }

  async pendingRequests(identity?: string): Promise<AccessRequest[]> {
    return (
      await this.call<{ requests: AccessRequest[] }>(
        'GET',
        `/api/v1/requests?status=pending&limit=10000${identity ? `&identity=${encodeURIComponent(identity)}` : ''}`,
      )
    ).requests;
  }

  async exceptions(identity?: string): Promise<AccessException[]> {
    return (
      await this.call<{ exceptions: AccessException[] }>('GET', `/api/v1/exceptions?limit=10000${identity ? `&identity=${encodeURIComponent(identity)}` : ''}`)
    ).exceptions;
  }

  createRequest(body: Schemas['AccessRequestInput']): Promise<AccessRequest> {
    return this.call('POST', '/api/v1/requests', body);
  }

  createException(body: Schemas['ExceptionRequest']): Promise<{ exception: AccessException; run: RunRef }> {
    return this.call('POST', '/api/v1/exceptions', body);
  }
}
