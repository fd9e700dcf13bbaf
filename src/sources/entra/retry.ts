import type { Context, Middleware } from '@microsoft/microsoft-graph-client';

/**
 * Throttling and transient-failure handling for Graph requests, as a graph-client middleware.
 * Our own rather than the client's RetryHandler because that one sleeps on real timers with
 * fixed limits: here the sleep is injectable (tests record delays instead of waiting), a
 * decimal Retry-After is honoured to the millisecond, and a Retry-After longer than we are
 * willing to wait in-process ends the attempt so the scheduler can come back later.
 */

/** 429 is throttling; Graph also answers 503 and 504 under load, and 500/502 are usually transient. */
const RETRYABLE_STATUSES = new Set([429, 500, 502, 503, 504]);

export interface RetryInfo {
  url: string;
  /** The attempt that failed, from 1. */
  attempt: number;
  status: number | null;
  delayMs: number;
  /** Whether the delay came from the server's Retry-After. */
  retryAfter: boolean;
}

export interface RetryPolicy {
  /** Attempts per request, the first included. */
  maxAttempts: number;
  /** First backoff delay when the server sends no Retry-After; doubles per attempt. */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** A longer Retry-After is not waited out: the response is handed back as it is. */
  maxRetryAfterMs: number;
  sleep: (ms: number) => Promise<void>;
  /** Jitter source in [0, 1). */
  random: () => number;
  onRetry?: (info: RetryInfo) => void;
}

export const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Retry-After as milliseconds: delta-seconds (Graph sends integers, other hops decimals) or an
 * HTTP date. Null when absent or unreadable.
 */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | null {
  if (value === null || value === undefined) return null;
  const v = value.trim();
  if (v === '') return null;
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  // An HTTP date names a weekday and a month; bare numbers of other shapes are not dates.
  if (!/[a-z]/i.test(v)) return null;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return null;
  return Math.max(0, at - now);
}

/** Exponential backoff with equal jitter: half fixed, half random, so many clients spread out. */
export function backoffDelay(attempt: number, p: Pick<RetryPolicy, 'backoffBaseMs' | 'backoffMaxMs' | 'random'>): number {
  const ceiling = Math.min(p.backoffMaxMs, p.backoffBaseMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + (ceiling / 2) * p.random());
}

export class RetryMiddleware implements Middleware {
  private next: Middleware | undefined;

  constructor(private readonly policy: RetryPolicy) {}

  setNext(next: Middleware): void {
    this.next = next;
  }

  async execute(context: Context): Promise<void> {
    const next = this.next;
    if (!next) throw new Error('RetryMiddleware needs a next middleware');
    const url = typeof context.request === 'string' ? context.request : (context.request as Request).url;
    for (let attempt = 1; ; attempt++) {
      context.response = undefined;
      let failure: unknown = null;
      try {
        await next.execute(context);
      } catch (e) {
        failure = e;
      }
      const res = context.response as Response | undefined;
      if (failure === null && res && !RETRYABLE_STATUSES.has(res.status)) return;
      if (attempt >= this.policy.maxAttempts) {
        if (failure !== null) throw failure instanceof Error ? failure : new Error(String(failure));
        return;
      }
      let delayMs = backoffDelay(attempt, this.policy);
      let fromServer = false;
      if (failure === null && res) {
        const ra = parseRetryAfter(res.headers.get('retry-after'));
        if (ra !== null) {
          // Waiting longer than this would hold a worker: hand the 429 back with its Retry-After.
          if (ra > this.policy.maxRetryAfterMs) return;
          delayMs = ra;
          fromServer = true;
        }
        // Free the connection before waiting.
        await res.body?.cancel().catch(() => undefined);
      }
      this.policy.onRetry?.({ url, attempt, status: res && failure === null ? res.status : null, delayMs, retryAfter: fromServer });
      await this.policy.sleep(delayMs);
    }
  }
}

/** The last middleware: sends the request with the given fetch (global fetch unless a test or proxy gives another). */
export class FetchMiddleware implements Middleware {
  constructor(
    private readonly fetchImpl: typeof fetch,
    private readonly timeoutMs: number,
  ) {}

  async execute(context: Context): Promise<void> {
    const init = { ...context.options, signal: AbortSignal.timeout(this.timeoutMs) };
    context.response = await this.fetchImpl(context.request as string, init);
  }
}
