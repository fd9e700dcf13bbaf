import { LockstepError } from '../../src/domain/errors.js';

/**
 * OAuth 2.0 client credentials (RFC 6749 §4.4) for the Salto Nebula API: the token endpoint
 * gets the API client's id and secret in the form body, as Salto's guide shows, and answers
 * with a bearer access token and its lifetime. Tokens are cached until shortly before they
 * expire; one request at a time fetches a new one. Neither the secret nor a token is ever put in
 * an error message or a log line.
 */
export interface ClientCredentials {
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  scopes: string[];
  timeoutMs: number;
}

interface TokenResponse {
  access_token?: unknown;
  expires_in?: unknown;
  error?: unknown;
}

export class TokenSource {
  private token?: { value: string; refreshAt: number };
  private loading?: Promise<string>;
  /** Tokens fetched so far (tests read it). */
  fetched = 0;

  constructor(
    private readonly creds: ClientCredentials,
    private readonly now: () => number = Date.now,
  ) {}

  /** A token believed valid; fetches one when there is none or it is about to expire. */
  get(): Promise<string> {
    if (this.token && this.now() < this.token.refreshAt) return Promise.resolve(this.token.value);
    this.loading ??= this.fetch().finally(() => {
      this.loading = undefined;
    });
    return this.loading;
  }

  /** The server refused this token: forget it, so that get() fetches another. */
  invalidate(value: string): void {
    if (this.token?.value === value) this.token = undefined;
  }

  private async fetch(): Promise<string> {
    const where = `Salto token endpoint ${new URL(this.creds.tokenUrl).origin}`;
    const body = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: this.creds.clientId,
      client_secret: this.creds.clientSecret,
      scope: this.creds.scopes.join(' '),
    });
    let res: Response;
    try {
      res = await fetch(this.creds.tokenUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body,
        redirect: 'error',
        signal: AbortSignal.timeout(this.creds.timeoutMs),
      });
    } catch (e) {
      const timedOut = e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError');
      throw new LockstepError(timedOut ? 'timeout' : 'unavailable', `${where}: ${timedOut ? 'no answer in time' : 'unreachable'}`, { cause: e });
    }
    let json: TokenResponse = {};
    try {
      json = (await res.json()) as TokenResponse;
    } catch {
      // not JSON: judged by the status below
    }
    if (!res.ok) {
      const oauthError = typeof json.error === 'string' ? json.error : undefined;
      if (res.status === 429) throw new LockstepError('rate_limited', `${where}: 429`, { status: 429 });
      if (res.status >= 500) throw new LockstepError('unavailable', `${where}: ${res.status}`, { status: res.status });
      // invalid_client, invalid_scope, unauthorized_client: the configuration is wrong; retrying cannot help
      throw new LockstepError('auth', `${where} refused API client ${this.creds.clientId}: ${res.status}${oauthError ? ` ${oauthError}` : ''}`, {
        status: res.status,
        retryable: false,
        details: { status: res.status, ...(oauthError ? { error: oauthError } : {}) },
      });
    }
    if (typeof json.access_token !== 'string' || json.access_token === '') {
      throw new LockstepError('internal', `${where}: the answer carries no access_token`, { retryable: false });
    }
    const ttlMs = typeof json.expires_in === 'number' && json.expires_in > 0 ? json.expires_in * 1000 : 300_000;
    // renew a minute early (or at half the lifetime of a short-lived token), so no call carries one that expires in flight
    const margin = Math.min(60_000, ttlMs / 2);
    this.token = { value: json.access_token, refreshAt: this.now() + ttlMs - margin };
    this.fetched++;
    return json.access_token;
  }
}
