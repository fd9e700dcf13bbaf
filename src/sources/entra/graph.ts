import { AuthenticationHandler, Client, GraphError, type Middleware } from '@microsoft/microsoft-graph-client';
import { TokenCredentialAuthenticationProvider } from '@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials/index.js';
import {
  ClientCertificateCredential,
  ClientSecretCredential,
  ManagedIdentityCredential,
  WorkloadIdentityCredential,
  type TokenCredential,
} from '@azure/identity';
import { LockstepError, type ErrorCode } from '../../domain/errors.js';
import { resolveAuthMethod, type EntraSourceConfig } from './config.js';
import { defaultSleep, FetchMiddleware, RetryMiddleware, parseRetryAfter, type RetryInfo } from './retry.js';

/** Graph error codes that mean "your delta token is no good any more: start over". */
const RESYNC_CODES = new Set(['syncStateNotFound', 'resyncRequired', 'syncStateInvalid', 'Directory_ExpiredPageToken']);

/** Credential errors from @azure/identity, as the graph client reports them (statusCode -1, code = error name). */
const CREDENTIAL_ERRORS = new Set(['AuthenticationError', 'CredentialUnavailableError', 'AuthenticationRequiredError', 'AggregateAuthenticationError']);

/**
 * The token credential the config asks for; null for `auth: none` (a local fake Graph).
 * Secrets stay inside the credential: nothing here logs them.
 */
export function createCredential(cfg: EntraSourceConfig): TokenCredential | null {
  const method = resolveAuthMethod(cfg);
  const authorityHost = cfg.authorityHost;
  switch (method) {
    case 'clientSecret':
      return new ClientSecretCredential(cfg.tenantId, cfg.clientId!, cfg.clientSecret!, { authorityHost });
    case 'certificate':
      return new ClientCertificateCredential(
        cfg.tenantId,
        cfg.clientId!,
        { certificatePath: cfg.certificatePath!, ...(cfg.certificatePassword ? { certificatePassword: cfg.certificatePassword } : {}) },
        { authorityHost },
      );
    case 'managedIdentity':
      return cfg.clientId ? new ManagedIdentityCredential({ clientId: cfg.clientId }) : new ManagedIdentityCredential();
    case 'workloadIdentity':
      // Tenant and client come from AZURE_TENANT_ID / AZURE_CLIENT_ID when the config leaves them to the pod.
      return new WorkloadIdentityCredential({ tenantId: cfg.tenantId, ...(cfg.clientId ? { clientId: cfg.clientId } : {}), authorityHost });
    case 'none':
      return null;
    default:
      throw new LockstepError('config', 'entra: no auth method: set clientSecret, certificatePath or auth', { field: 'auth' });
  }
}

export interface EntraGraphOptions {
  /** Graph root with version, e.g. https://graph.microsoft.com/v1.0. */
  baseUrl: string;
  /** Null: send no Authorization header (only for a local fake Graph). */
  credential: TokenCredential | null;
  fetchImpl?: typeof fetch;
  maxAttempts?: number;
  timeoutMs?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  maxRetryAfterMs?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  onRetry?: (info: RetryInfo) => void;
}

export interface GraphPage<T> {
  value?: T[];
  '@odata.nextLink'?: string;
  '@odata.deltaLink'?: string;
}

/** Counters for one pull, reset by the caller. */
export interface GraphStats {
  requests: number;
  retries: number;
}

/**
 * A small face over the Microsoft Graph client: GET JSON by path or by an absolute
 * nextLink/deltaLink, with auth, retries and errors turned into LockstepErrors.
 */
export class EntraGraph {
  readonly baseUrl: string;
  readonly stats: GraphStats = { requests: 0, retries: 0 };
  private readonly client: Client;

  constructor(opts: EntraGraphOptions) {
    const base = new URL(opts.baseUrl);
    this.baseUrl = `${base.origin}${base.pathname.replace(/\/+$/, '')}`;
    const version = base.pathname.replace(/^\/+|\/+$/g, '');
    const retry = new RetryMiddleware({
      maxAttempts: opts.maxAttempts ?? 6,
      backoffBaseMs: opts.backoffBaseMs ?? 1000,
      backoffMaxMs: opts.backoffMaxMs ?? 60_000,
      maxRetryAfterMs: opts.maxRetryAfterMs ?? 120_000,
      sleep: opts.sleep ?? defaultSleep,
      random: opts.random ?? Math.random,
      onRetry: (info) => {
        this.stats.retries++;
        opts.onRetry?.(info);
      },
    });
    const counting: Middleware & { next?: Middleware } = {
      execute: async (ctx) => {
        this.stats.requests++;
        await counting.next!.execute(ctx);
      },
      setNext: (m) => {
        counting.next = m;
      },
    };
    const chain: Middleware[] = [];
    if (opts.credential) {
      const scopes = [`${base.origin}/.default`];
      chain.push(new AuthenticationHandler(new TokenCredentialAuthenticationProvider(opts.credential, { scopes })));
    }
    chain.push(retry, counting, new FetchMiddleware(opts.fetchImpl ?? ((input, init) => fetch(input, init)), opts.timeoutMs ?? 30_000));
    this.client = Client.initWithMiddleware({
      middleware: chain,
      baseUrl: base.origin,
      defaultVersion: version,
      // The auth handler only attaches tokens to hosts it knows; a sovereign or test host is named here.
      customHosts: new Set([base.hostname]),
    });
  }

  /** GET a path under the base URL (`/users/delta?...`) or an absolute link Graph handed out. */
  async get<T>(pathOrLink: string, headers: Record<string, string> = {}): Promise<T> {
    const path = this.relativize(pathOrLink);
    try {
      return (await this.client.api(path).headers(headers).get()) as T;
    } catch (e) {
      throw toLockstepError(e, path);
    }
  }

  /** Links Graph returns are absolute; the client rebuilds URLs from base + version + path, so hand it the path. */
  private relativize(link: string): string {
    if (!/^https?:\/\//i.test(link)) return link.startsWith('/') ? link : `/${link}`;
    if (link.startsWith(`${this.baseUrl}/`)) return link.slice(this.baseUrl.length);
    throw new LockstepError('unavailable', `Graph returned a link outside ${this.baseUrl}: refusing to follow it`, { retryable: false, details: { link } });
  }
}

/** A Graph failure as a LockstepError; `details.graphCode` keeps Graph's own code. */
function toLockstepError(e: unknown, path: string): LockstepError {
  if (e instanceof LockstepError) return e;
  if (e instanceof GraphError) {
    const status = e.statusCode;
    const graphCode = e.code ?? null;
    const headers = e.headers;
    const retryAfterMs = parseRetryAfter(headers?.get?.('retry-after') ?? null) ?? undefined;
    const where = `GET ${path.split('?')[0]}`;
    const details = { graphCode, status, requestId: e.requestId ?? null };
    let code: ErrorCode;
    if (status === -1 && graphCode && CREDENTIAL_ERRORS.has(graphCode)) code = 'auth';
    else if (status === -1 && graphCode === 'TimeoutError') code = 'timeout';
    else if (status === -1) code = 'unavailable';
    else if (status === 401 || status === 403) code = 'auth';
    else if (status === 404) code = 'not_found';
    else if (status === 410 || (graphCode && RESYNC_CODES.has(graphCode))) code = 'conflict';
    else if (status === 429) code = 'rate_limited';
    else if (status >= 500) code = 'unavailable';
    else code = 'internal';
    const hint = status === 403 ? ' (does the app have the Graph application permissions in the README, with admin consent?)' : '';
    return new LockstepError(
      code,
      `Microsoft Graph ${where}: ${status === -1 ? '' : `${status} `}${graphCode ?? ''} ${e.message}${hint}`.replace(/\s+/g, ' ').trim(),
      {
        status: status === -1 ? undefined : status,
        retryAfterMs,
        details,
        cause: e,
      },
    );
  }
  const err = e as Error;
  return new LockstepError('unavailable', `Microsoft Graph GET ${path.split('?')[0]}: ${err?.message ?? String(e)}`, { cause: e });
}

/** The delta token is gone or expired (410, syncStateNotFound...): the round must start again from scratch. */
export function isResyncRequired(e: unknown): boolean {
  if (!(e instanceof LockstepError)) return false;
  const d = e.details as { graphCode?: string | null; status?: number } | undefined;
  return e.status === 410 || (!!d?.graphCode && RESYNC_CODES.has(d.graphCode));
}
