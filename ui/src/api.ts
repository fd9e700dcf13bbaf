/**
 * The console's one way to the admin API: same-origin requests with the session cookie and the
 * CSRF header lockstep asks of cookie-authenticated writes. A 401 sends the browser to sign in
 * and come back here. For development without OIDC a static token can be kept in this tab's
 * sessionStorage (the "Use a token" form); it is sent as a bearer token and never stored
 * anywhere else.
 */
import type { components } from './generated/api';

const TOKEN_KEY = 'lockstep.devToken';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export function devToken(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function setDevToken(token: string | null): void {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export function loginUrl(): string {
  return `/auth/login?returnTo=${encodeURIComponent(location.pathname + location.search + location.hash)}`;
}

/** Sends the browser to the sign-in; a promise that never settles, so callers stop there. */
export function signIn(): Promise<never> {
  location.assign(loginUrl());
  return new Promise<never>(() => undefined);
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  const t = devToken();
  return { 'X-Requested-With': 'lockstep', Accept: 'application/json', ...(t ? { Authorization: `Bearer ${t}` } : {}), ...extra };
}

async function errorOf(res: Response): Promise<ApiError> {
  type ErrorBody = { error?: { code?: string; message?: string; field?: string; details?: unknown } };
  let body: ErrorBody | null = null;
  try {
    body = (await res.json()) as ErrorBody;
  } catch {
    body = null;
  }
  const e = body?.error;
  return new ApiError(res.status, e?.code ?? 'http', e?.message ?? `${res.status} ${res.statusText}`, e?.field, e?.details);
}

/** Called when the API says the caller is not signed in (set by the app: token form or sign-in). */
let onUnauthorized: () => Promise<never> = signIn;
export function setUnauthorizedHandler(fn: () => Promise<never>): void {
  onUnauthorized = fn;
}

export async function request<T>(method: string, path: string, body?: unknown, opts: { okStatuses?: number[] } = {}): Promise<T> {
  const res = await fetch(path.startsWith('/') ? path : `/api/v1/${path}`, {
    method,
    credentials: 'same-origin',
    headers: headers(body === undefined ? {} : { 'Content-Type': 'application/json' }),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 401) return onUnauthorized();
  if (!res.ok && !(opts.okStatuses ?? []).includes(res.status)) throw await errorOf(res);
  const text = await res.text();
  return (text ? JSON.parse(text) : null) as T;
}

export const get = <T>(path: string, opts?: { okStatuses?: number[] }) => request<T>('GET', path, undefined, opts);
export const post = <T>(path: string, body?: unknown, opts?: { okStatuses?: number[] }) => request<T>('POST', path, body ?? {}, opts);
export const del = <T>(path: string, body?: unknown) => request<T>('DELETE', path, body ?? {});

/** A file from the API (CSV), saved through a temporary link: the download carries the same credentials. */
export async function download(path: string, filename: string): Promise<void> {
  const res = await fetch(`/api/v1/${path}`, { credentials: 'same-origin', headers: headers({ Accept: 'text/csv' }) });
  if (res.status === 401) return onUnauthorized();
  if (!res.ok) throw await errorOf(res);
  saveBlob(await res.blob(), filename);
}

export function saveBlob(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

// ---- the shapes the console reads: the admin API's, generated from docs/openapi.json --------
// (npm run gen:types); a change in the API's zod schemas (src/api) is a type error here.

type Schemas = components['schemas'];

export type Role = Schemas['Principal']['roles'][number];

/** The signed-in caller (GET /auth/me); `dev-token`: a token kept in this tab (the "Use a token" form). */
export type Me = Omit<Schemas['Principal'], 'via' | 'actor'> & { via: Schemas['Principal']['via'] | 'dev-token'; actor?: string };

export type Reason = Schemas['Reason'];
export type AccessGroup = Schemas['AccessGroupRef'];
export type Entitlement = Schemas['Entitlement'];
export type Identity = Schemas['Identity'];
export type PersonRow = Schemas['PersonRow'];
export type Account = NonNullable<Schemas['Account']>;
export type Explanation = Schemas['Explanation'];
export type Operation = Schemas['Operation'];
export type OperationKind = Operation['kind'];
export type Plan = NonNullable<Schemas['Plan']>;
export type Run = NonNullable<Schemas['Run']>;
export type OperationResult = Run['results'][number];
export type RunListItem = Schemas['RunListItem'];
export type ReportRow = Schemas['AccessReportRow'];
export type MatrixRow = Schemas['RoleReport']['matrix'][number];
export type ViolationReport = Schemas['ViolationReport'];
export type Incident = Schemas['Incident'];

// ---- governance (issue 15): access exceptions, requests, reviews ------------------------

export type RunRef = Pick<NonNullable<Schemas['RunStarted']>, 'runId' | 'queued'>;
export type DeclaredAccessGroup = Schemas['AccessGroupList']['accessGroups'][number];
export type AccessException = Schemas['AccessException'];
/** The person a list item is about, by name. */
export type PersonRef = NonNullable<AccessException['person']>;
export type AccessRequest = Schemas['AccessRequest'];
export type ApprovalStep = AccessRequest['steps'][number];
export type ReviewCampaign = Schemas['ReviewCampaign'];
export type ReviewItem = Schemas['ReviewItem'];
export type ReviewReport = Schemas['ReviewReport'];

const q = (params: Record<string, string | undefined>) => {
  const s = new URLSearchParams(Object.entries(params).filter((e): e is [string, string] => !!e[1])).toString();
  return s ? `?${s}` : '';
};

export const governance = {
  accessGroups: () => get<{ accessGroups: DeclaredAccessGroup[] }>('access-groups'),
  exceptions: (all: boolean) => get<{ exceptions: AccessException[] }>(`exceptions${q({ all: all ? 'true' : undefined })}`),
  addException: (b: { identity: string; accessGroup: string; until: string; reason: string }) =>
    post<{ exception: AccessException; run: RunRef }>('exceptions', b),
  removeException: (id: string, reason: string) => del<{ exception: AccessException; run: RunRef }>(`exceptions/${encodeURIComponent(id)}`, { reason }),
  requests: (status: string) => get<{ requests: AccessRequest[] }>(`requests${q({ status })}`),
  createRequest: (b: { identity: string; accessGroup?: string; role?: string; from?: string; until: string; justification: string }) =>
    post<AccessRequest>('requests', b),
  approveRequest: (id: string, comment: string) =>
    post<{ request: AccessRequest; run: RunRef | null }>(`requests/${encodeURIComponent(id)}/approve`, comment ? { comment } : {}),
  denyRequest: (id: string, comment: string) => post<{ request: AccessRequest }>(`requests/${encodeURIComponent(id)}/deny`, { comment }),
  reviews: (status: string) => get<{ campaigns: ReviewCampaign[] }>(`reviews${q({ status })}`),
  startReview: (review: string) => post<{ campaign: ReviewCampaign; items: ReviewItem[] }>('reviews', { review }),
  review: (id: string) => get<ReviewReport>(`reviews/${encodeURIComponent(id)}`),
  decide: (id: string, item: string, decision: 'keep' | 'revoke', comment: string) =>
    post<{ item: ReviewItem; run: RunRef | null }>(
      `reviews/${encodeURIComponent(id)}/items/${encodeURIComponent(item)}/decide`,
      comment ? { decision, comment } : { decision },
    ),
  reportCsv: (c: ReviewCampaign) => download(`reviews/${encodeURIComponent(c.id)}/report?format=csv`, `review-${c.reviewId}-${c.startedAt.slice(0, 10)}.csv`),
};
