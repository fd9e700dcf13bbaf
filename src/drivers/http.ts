import http from 'node:http';
import https from 'node:https';
import { LockstepError, type ErrorCode } from '../domain/errors.js';

/**
 * Shared HTTP plumbing for drivers: JSON over HTTP/1.1 with keep-alive, per-request timeouts,
 * retries with backoff that honour Retry-After, and vendor responses turned into
 * LockstepErrors whose codes the executor and the queue act on.
 *
 * Requests go through node:http / node:https with one keep-alive agent per client (client
 * certificates and CAs are the agent's TLS options). Not fetch: on the queue's hot path a fetch
 * costs several times the CPU of a plain request (web streams, abort signals, a request object
 * per call), about a tenth of the service's CPU per JML event in bench:jml. nock intercepts
 * node:http, so vendor APIs can still be faked with it in tests.
 */

export type HttpMethod = 'GET' | 'HEAD' | 'OPTIONS' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface TlsOptions {
  /** PEM client private key (mutual TLS). */
  key?: string | Buffer;
  /** PEM client certificate (mutual TLS). */
  cert?: string | Buffer;
  /** PEM CA bundle to trust for the server, replacing the default roots. */
  ca?: string | Buffer | Array<string | Buffer>;
  passphrase?: string;
  /** Server name for SNI and certificate checks, when it differs from the URL's host. */
  servername?: string;
  /** Defaults to true; turning it off is for lab systems only. */
  rejectUnauthorized?: boolean;
}

export interface RetryInfo {
  method: HttpMethod;
  path: string;
  /** The attempt that failed, from 1. */
  attempt: number;
  delayMs: number;
  error: LockstepError;
}

export interface HttpClientOptions {
  /** e.g. `https://cc.example.com:8904/api`; request paths are appended to it. */
  baseUrl: string;
  /** Sent with every request (API keys belong here; they never appear in errors). */
  headers?: Record<string, string>;
  /** Per attempt, including reading the body. Default 10 000. */
  timeoutMs?: number;
  /** Attempts per request, including the first. Default 3. */
  maxAttempts?: number;
  /** First backoff delay; doubles per attempt. Default 200. */
  backoffBaseMs?: number;
  /** Upper bound of one backoff delay. Default 5 000. */
  backoffMaxMs?: number;
  /**
   * Longest Retry-After this client waits out in-process. A server asking for longer gets
   * its rate_limited error surfaced at once, with retryAfterMs, so the queue can delay the
   * job instead of a worker sleeping on it. Default 30 000.
   */
  maxRetryAfterMs?: number;
  tls?: TlsOptions;
  /** Connections kept per client. Default 64. */
  maxSockets?: number;
  onRetry?: (info: RetryInfo) => void;
  /** Jitter source in [0, 1); tests pin it. */
  random?: () => number;
  /** Waits between attempts; tests record the delays instead of waiting. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export type QueryValue = string | number | boolean | null | undefined;

export interface RequestOptions {
  query?: Record<string, QueryValue>;
  /** Serialised as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
  timeoutMs?: number;
  maxAttempts?: number;
  /**
   * Whether repeating the request is harmless. Defaults by method: GET, HEAD, OPTIONS, PUT
   * and DELETE are; POST and PATCH are not (those are still retried on 429 and 503, and when
   * the connection was refused, since the server did not act on them).
   */
  idempotent?: boolean;
  signal?: AbortSignal;
}

export interface HttpResponse<T> {
  status: number;
  headers: { get(name: string): string | null };
  body: T;
}

/** What statusError reads of a response. */
interface ResponseLike {
  status: number;
  statusText: string;
  headers: { get(name: string): string | null };
}

const IDEMPOTENT: ReadonlySet<HttpMethod> = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/** Error codes of connection failures that mean the request never reached the server. */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/** TLS verification failures: retrying cannot help, the configuration (CA, server name) is wrong. */
const TLS_CONFIG_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_SSL_WRONG_VERSION_NUMBER',
]);

/** The server's TLS alerts refusing our client certificate: credentials refused, like a 401. */
const TLS_AUTH_CODES = new Set([
  'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
  'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
  'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN',
  'ERR_SSL_TLSV1_ALERT_ACCESS_DENIED',
]);

/**
 * Reads a Retry-After header: delay-seconds (RFC 9110 says integer; some servers send
 * decimals, so those are accepted too) or an HTTP-date. Returns milliseconds from `now`
 * (0 for a date already past), or undefined when the header is absent or unreadable.
 */
export function parseRetryAfter(header: string | null | undefined, now: number = Date.now()): number | undefined {
  if (header == null) return undefined;
  const v = header.trim();
  if (v === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  if (/^[+-]?\d/.test(v)) return undefined; // negative or malformed number: not a date either
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/** The code a response status maps to. */
export function codeForStatus(status: number): ErrorCode {
  if (status === 401 || status === 403) return 'auth';
  if (status === 404 || status === 410) return 'not_found';
  if (status === 409 || status === 412) return 'conflict';
  if (status === 429) return 'rate_limited';
  if (status === 408) return 'timeout';
  if (status >= 500) return 'unavailable';
  return 'validation';
}

/** Resolves to null when the request failed with not_found; rethrows anything else. */
export async function notFoundAsNull<T>(p: Promise<T>): Promise<T | null> {
  try {
    return await p;
  } catch (e) {
    if (e instanceof LockstepError && e.code === 'not_found') return null;
    throw e;
  }
}

/** A rejection is always an Error (an abort's reason may be anything). */
const asError = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));

const defaultSleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(asError(signal.reason));
    const t = setTimeout(done, ms);
    function done(): void {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }
    function onAbort(): void {
      clearTimeout(t);
      reject(asError(signal?.reason));
    }
    signal?.addEventListener('abort', onAbort, { once: true });
  });

export class HttpClient {
  readonly baseUrl: URL;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;
  private readonly maxAttempts: number;
  private readonly backoffBaseMs: number;
  private readonly backoffMaxMs: number;
  private readonly maxRetryAfterMs: number;
  private readonly onRetry?: (info: RetryInfo) => void;
  private readonly random: () => number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private readonly agent: http.Agent;

  constructor(opts: HttpClientOptions) {
    let base: URL;
    try {
      base = new URL(opts.baseUrl);
    } catch {
      throw new LockstepError('config', `invalid base URL for HTTP client`, { field: 'url', retryable: false });
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') {
      throw new LockstepError('config', `base URL must be http or https, got ${base.protocol}`, { field: 'url' });
    }
    // A trailing slash makes `new URL('accounts', base)` append instead of replacing the last segment.
    if (!base.pathname.endsWith('/')) base.pathname += '/';
    base.search = '';
    base.hash = '';
    this.baseUrl = base;
    this.headers = { accept: 'application/json', ...lowerKeys(opts.headers ?? {}) };
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.maxAttempts = Math.max(1, opts.maxAttempts ?? 3);
    this.backoffBaseMs = opts.backoffBaseMs ?? 200;
    this.backoffMaxMs = opts.backoffMaxMs ?? 5_000;
    this.maxRetryAfterMs = opts.maxRetryAfterMs ?? 30_000;
    this.onRetry = opts.onRetry;
    this.random = opts.random ?? Math.random;
    this.sleep = opts.sleep ?? defaultSleep;
    // An idle connection is closed after 4 s, before servers' usual 5 s keep-alive ends it: a
    // request is then never written to a connection the server is closing at that moment.
    const pool = { keepAlive: true, maxSockets: opts.maxSockets ?? 64, timeout: 4000 };
    if (base.protocol === 'https:') {
      const { key, cert, ca, passphrase, servername, rejectUnauthorized } = opts.tls ?? {};
      this.agent = new https.Agent({ ...pool, key, cert, ca, passphrase, servername, rejectUnauthorized: rejectUnauthorized ?? true });
    } else {
      this.agent = new http.Agent(pool);
    }
  }

  get<T>(path: string, opts?: Omit<RequestOptions, 'body'>): Promise<T> {
    return this.request<T>('GET', path, opts).then((r) => r.body);
  }
  post<T>(path: string, body?: unknown, opts?: RequestOptions): Promise<T> {
    return this.request<T>('POST', path, { ...opts, body }).then((r) => r.body);
  }
  put<T>(path: string, body?: unknown, opts?: RequestOptions): Promise<T> {
    return this.request<T>('PUT', path, { ...opts, body }).then((r) => r.body);
  }
  patch<T>(path: string, body?: unknown, opts?: RequestOptions): Promise<T> {
    return this.request<T>('PATCH', path, { ...opts, body }).then((r) => r.body);
  }
  delete<T = void>(path: string, opts?: RequestOptions): Promise<T> {
    return this.request<T>('DELETE', path, opts).then((r) => r.body);
  }

  /**
   * One logical request, retried per the policy above. `path` is relative to the base URL,
   * or an absolute URL on the same origin (HATEOAS links). Resolves for 2xx with the
   * body parsed as JSON (undefined when empty); rejects with a LockstepError otherwise.
   */
  async request<T = unknown>(method: HttpMethod, path: string, opts: RequestOptions = {}): Promise<HttpResponse<T>> {
    const url = this.resolve(path, opts.query);
    const where = `${method} ${url.pathname}`;
    const idempotent = opts.idempotent ?? IDEMPOTENT.has(method);
    const maxAttempts = Math.max(1, opts.maxAttempts ?? this.maxAttempts);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.attempt<T>(method, url, where, opts);
      } catch (e) {
        const err = e instanceof LockstepError ? e : new LockstepError('internal', `${where}: ${String(e)}`, { cause: e });
        const delay = this.retryDelay(err, attempt, maxAttempts, idempotent);
        if (delay === undefined || opts.signal?.aborted) throw withAttempts(err, attempt);
        this.onRetry?.({ method, path: url.pathname, attempt, delayMs: delay, error: err });
        try {
          await this.sleep(delay, opts.signal);
        } catch (abort) {
          throw new LockstepError('internal', `${where}: aborted while waiting to retry`, { cause: abort, retryable: false });
        }
      }
    }
  }

  /** Closes the kept-alive connections. */
  async close(): Promise<void> {
    this.agent.destroy();
  }

  private resolve(path: string, query?: Record<string, QueryValue>): URL {
    const url = /^https?:\/\//i.test(path) ? new URL(path) : new URL(path.replace(/^\/+/, ''), this.baseUrl);
    // Default headers carry credentials; they must never follow a link to another host.
    if (url.origin !== this.baseUrl.origin) {
      throw new LockstepError('validation', `refusing request to ${url.origin}: not the configured origin ${this.baseUrl.origin}`, {
        retryable: false,
      });
    }
    for (const [k, v] of Object.entries(query ?? {})) {
      if (v !== undefined && v !== null) url.searchParams.set(k, String(v));
    }
    return url;
  }

  private attempt<T>(method: HttpMethod, url: URL, where: string, opts: RequestOptions): Promise<HttpResponse<T>> {
    const headers: Record<string, string> = { ...this.headers, ...lowerKeys(opts.headers ?? {}) };
    let body: Buffer | undefined;
    if (opts.body !== undefined) {
      body = Buffer.from(JSON.stringify(opts.body), 'utf8');
      headers['content-type'] ??= 'application/json';
    }
    if (body) headers['content-length'] = String(body.length);
    const signal = opts.signal;
    return new Promise<HttpResponse<T>>((resolve, reject) => {
      let settled = false;
      let timedOut = false;
      const lib = url.protocol === 'https:' ? https : http;
      // Redirects are not followed (node:http never does): they would carry the API key
      // headers to wherever the Location points. A 3xx therefore surfaces as an error.
      const req = lib.request(url, { method, headers, agent: this.agent });
      const finish = (): boolean => {
        if (settled) return false;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        return true;
      };
      const fail = (e: unknown): void => {
        if (!finish()) return;
        req.destroy();
        reject(transportError(e, where, timedOut, signal?.aborted === true));
      };
      // The body is read under the same timeout: a server that stalls mid-body is as dead as one that never answers.
      const timer = setTimeout(() => {
        timedOut = true;
        fail(new Error('timeout'));
      }, opts.timeoutMs ?? this.timeoutMs);
      const onAbort = (): void => fail(signal?.reason ?? new Error('aborted'));
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      req.on('error', fail);
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', fail);
        res.on('close', () => {
          if (!res.complete) fail(Object.assign(new Error('the connection closed before the response was complete'), { code: 'ECONNRESET' }));
        });
        res.on('end', () => {
          if (!finish()) return;
          const text = chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          const got = { get: (name: string): string | null => headerValue(res.headers[name.toLowerCase()]) };
          if (status >= 200 && status < 300) {
            try {
              resolve({ status, headers: got, body: parseBody(text, got.get('content-type'), where) as T });
            } catch (e) {
              reject(asError(e));
            }
            return;
          }
          reject(statusError({ status, statusText: res.statusMessage ?? '', headers: got }, text, where));
        });
      });
      req.end(body);
    });
  }

  private retryDelay(err: LockstepError, attempt: number, maxAttempts: number, idempotent: boolean): number | undefined {
    if (attempt >= maxAttempts) return undefined;
    const notSent = (err.details as { notSent?: boolean } | undefined)?.notSent === true;
    const serverRefused = err.status === 429 || err.status === 503;
    const transient = err.code === 'unavailable' || err.code === 'timeout' || err.code === 'rate_limited';
    if (!(serverRefused || notSent || (idempotent && transient))) return undefined;
    const backoff = Math.min(this.backoffMaxMs, this.backoffBaseMs * 2 ** (attempt - 1));
    if (err.retryAfterMs !== undefined) {
      if (err.retryAfterMs > this.maxRetryAfterMs) return undefined;
      // Retry-After is a minimum; the jitter spreads clients that were all told the same instant.
      return err.retryAfterMs + Math.floor(this.random() * this.backoffBaseMs);
    }
    // "Equal jitter": half fixed so the delay still grows, half random so clients spread out.
    return Math.floor(backoff / 2 + (this.random() * backoff) / 2);
  }
}

function headerValue(v: string | string[] | undefined): string | null {
  if (v === undefined) return null;
  return Array.isArray(v) ? v.join(', ') : v;
}

function lowerKeys(h: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) out[k.toLowerCase()] = v;
  return out;
}

function parseBody(text: string, contentType: string | null, where: string): unknown {
  if (text === '') return undefined;
  const looksJson = contentType ? /[/+]json\b/i.test(contentType) : /^\s*[[{]/.test(text);
  if (!looksJson) return text;
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new LockstepError('internal', `${where}: response is not valid JSON`, { cause: e, retryable: false });
  }
}

/** A short, header-free summary of what the server said, for messages and details. */
function serverMessage(text: string): string | undefined {
  if (!text) return undefined;
  let msg = text;
  try {
    const j = JSON.parse(text) as unknown;
    if (j && typeof j === 'object') {
      const o = j as Record<string, unknown>;
      // an error object nested under `error` ({ error: { code, message } }: OpenAccess, Graph-style APIs)
      const nested = o.error && typeof o.error === 'object' ? (o.error as Record<string, unknown>) : null;
      const m = o.message ?? o.error_description ?? o.detail ?? (nested ? (nested.message ?? nested.description) : o.error) ?? o.title;
      if (typeof m === 'string') msg = nested && typeof nested.code === 'string' && nested.code !== m ? `${nested.code}: ${m}` : m;
    }
  } catch {
    // not JSON: keep the text
  }
  msg = msg.replace(/\s+/g, ' ').trim();
  return msg.length > 200 ? `${msg.slice(0, 200)}…` : msg || undefined;
}

function statusError(res: ResponseLike, text: string, where: string): LockstepError {
  const code = codeForStatus(res.status);
  const said = serverMessage(text);
  const retryAfterMs = res.status === 429 || res.status === 503 ? parseRetryAfter(res.headers.get('retry-after')) : undefined;
  const message = `${where}: ${res.status}${res.statusText ? ` ${res.statusText}` : ''}${said ? ` (${said})` : ''}`;
  return new LockstepError(code, message, {
    status: res.status,
    retryAfterMs,
    details: { method: where.split(' ')[0], path: where.slice(where.indexOf(' ') + 1), status: res.status, ...(said ? { response: said } : {}) },
  });
}

function transportError(e: unknown, where: string, timedOut: boolean, callerAborted: boolean): LockstepError {
  const [method, path] = [where.split(' ')[0], where.slice(where.indexOf(' ') + 1)];
  if (timedOut) return new LockstepError('timeout', `${where}: no response in time`, { cause: e, details: { method, path } });
  if (callerAborted) {
    return new LockstepError('internal', `${where}: aborted`, { cause: e, retryable: false, details: { method, path } });
  }
  const sysCode = errorCode(e);
  if (sysCode && TLS_CONFIG_CODES.has(sysCode)) {
    return new LockstepError('config', `${where}: TLS verification failed (${sysCode})`, {
      cause: e,
      retryable: false,
      details: { method, path, cause: sysCode },
    });
  }
  if (sysCode && TLS_AUTH_CODES.has(sysCode)) {
    return new LockstepError('auth', `${where}: client certificate refused (${sysCode})`, {
      cause: e,
      retryable: false,
      details: { method, path, cause: sysCode },
    });
  }
  const notSent = sysCode !== undefined && NOT_SENT_CODES.has(sysCode);
  return new LockstepError('unavailable', `${where}: ${sysCode ?? (e instanceof Error ? e.message : 'request failed')}`, {
    cause: e,
    details: { method, path, ...(sysCode ? { cause: sysCode } : {}), notSent },
  });
}

/** The system or TLS code of a transport error, looked for on the error and its causes. */
function errorCode(e: unknown): string | undefined {
  let found: string | undefined;
  let cur: unknown = e;
  for (let i = 0; i < 6 && cur; i++) {
    const c = (cur as { code?: unknown }).code;
    if (typeof c === 'string') {
      // undici's own socket codes are generic ("other side closed"); a system code below them says more.
      if (!c.startsWith('UND_ERR_')) return c;
      found ??= c === 'UND_ERR_SOCKET' ? 'ECONNRESET' : c;
    }
    const errors = (cur as { errors?: unknown }).errors;
    cur = Array.isArray(errors) && errors.length > 0 ? errors[0] : (cur as { cause?: unknown }).cause;
  }
  return found;
}

function withAttempts(err: LockstepError, attempts: number): LockstepError {
  if (attempts <= 1 || !err.details || typeof err.details !== 'object') return err;
  const details = { ...(err.details as Record<string, unknown>), attempts };
  return new LockstepError(err.code, err.message, {
    field: err.field,
    retryable: err.retryable,
    retryAfterMs: err.retryAfterMs,
    status: err.status,
    details,
    cause: err.cause,
  });
}
