/**
 * The console's one way to the admin API: same-origin requests with the session cookie and the
 * CSRF header lockstep asks of cookie-authenticated writes. A 401 sends the browser to sign in
 * and come back here. For development without OIDC a static token can be kept in this tab's
 * sessionStorage (the "Use a token" form); it is sent as a bearer token and never stored
 * anywhere else.
 */
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

export const get = <T,>(path: string, opts?: { okStatuses?: number[] }) => request<T>('GET', path, undefined, opts);
export const post = <T,>(path: string, body?: unknown, opts?: { okStatuses?: number[] }) => request<T>('POST', path, body ?? {}, opts);
export const del = <T,>(path: string, body?: unknown) => request<T>('DELETE', path, body ?? {});

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

// ---- the shapes the console reads (as the admin API answers) ----------------------------

export type Role = 'viewer' | 'operator' | 'approver' | 'auditor';

export interface Me {
  subject: string;
  name: string | null;
  email: string | null;
  roles: Role[];
  via: 'oidc' | 'token' | 'dev-token';
  actor?: string;
}

export interface Reason {
  rule: string;
  role?: string;
  roleChain?: string[];
  sourceRole?: string;
  matched: Record<string, unknown>;
  notes?: string[];
}

export interface AccessGroup {
  id: string;
  system: string;
  ref: string;
  name: string;
  protectionClass: number;
}

export interface Entitlement {
  identityId: string;
  accessGroup: AccessGroup;
  validFrom: string | null;
  validUntil: string | null;
  reasons: Reason[];
}

export interface Identity {
  id: string;
  source: string;
  externalId: string;
  userName: string;
  displayName?: string;
  active: boolean;
  employeeType?: string;
  department?: string;
  jobTitle?: string;
  site?: string;
  email?: string;
  hireDate?: string;
  leaveDate?: string;
  contractEnd?: string;
  manager?: string;
  sponsor?: string;
  groups: string[];
  roles: Array<{ value: string; display?: string; type?: string; primary?: boolean }>;
  deletedAt: string | null;
}

export interface PersonRow {
  id: string;
  userName: string;
  displayName: string | null;
  externalId: string;
  source: string;
  employeeType: string | null;
  department: string | null;
  jobTitle: string | null;
  site: string | null;
  leaver: boolean;
  deleted: boolean;
}

export interface Account {
  id: string;
  externalId: string | null;
  displayName: string;
  state: string;
  memberships: Array<{ group: string; from: string | null; until: string | null }>;
  credentials: Array<{ id: string; type: string; number?: string; status: string; lastUsedAt: string | null }>;
}

export interface Explanation {
  identity: Identity;
  leaver: boolean;
  entitlements: Entitlement[];
  denied: Array<{ accessGroupId: string; rule: string; reason: string }>;
  conflict: { externalId: string; heldBy: Array<{ id: string; userName: string; source: string }> } | null;
  nextCheckAt: string | null;
  systems: Array<{ system: string; account: Account | null; linked: boolean }>;
  text: string[];
}

export type OperationKind =
  | 'create_account'
  | 'update_account'
  | 'link_account'
  | 'reactivate_account'
  | 'revoke'
  | 'grant'
  | 'change_validity'
  | 'suspend_account'
  | 'delete_account'
  | 'set_credential_state';

export interface Operation {
  key: string;
  kind: OperationKind;
  system: string;
  identityId: string | null;
  externalId: string | null;
  userName: string | null;
  accountId: string | null;
  group?: { id: string; ref: string; name: string; protectionClass: number };
  validity?: { from: string | null; until: string | null };
  previousValidity?: { from: string | null; until: string | null };
  credentialId?: string;
  credentialState?: string;
  reason: { cause: string; text: string; reasons?: Reason[]; policy?: string };
  revocation: boolean;
}

export interface Plan {
  createdAt: string;
  scope: 'full' | 'identities';
  identities: number;
  operations: Operation[];
  summary: { add: number; change: number; destroy: number };
  warnings: string[];
  nextCheckAt: string | null;
}

export interface OperationResult {
  key: string;
  status: 'applied' | 'failed' | 'skipped';
  error?: { code: string; message: string };
  attempts: number;
  at: string;
}

export interface RunListItem {
  id: string;
  kind: string;
  trigger: string;
  status: string;
  scope: string;
  summary: Record<string, unknown> | null;
  progress: { done: number; total: number } | null;
  error: string | null;
  createdAt: string;
  finishedAt: string | null;
  approvedBy: string | null;
  operations: number;
  applied?: number;
  failed?: number;
}

export interface Run extends Omit<RunListItem, 'operations' | 'applied' | 'failed'> {
  plan: Plan | null;
  results: OperationResult[];
  causedBy?: string[];
}

export interface ReportRow {
  system: string;
  accountId: string;
  accountState: string;
  userName: string | null;
  displayName: string;
  identityId: string | null;
  employeeType: string | null;
  department: string | null;
  accessGroupId: string | null;
  accessGroup: string;
  groupRef: string;
  protectionClass: number | null;
  validFrom: string | null;
  validUntil: string | null;
  why: string;
  roles: string[];
  lastUsed: string | null;
  justified: boolean;
}

export interface MatrixRow {
  role: string;
  accessGroupId: string;
  accessGroup: string;
  system: string;
  protectionClass: number;
  via: string;
}

// ---- governance (issue 15): access exceptions, requests, reviews ------------------------

export interface RunRef {
  runId: string | null;
  queued: boolean;
}

export interface DeclaredAccessGroup {
  id: string;
  name: string;
  system: string;
  ref: string;
  protectionClass: number;
  owner: string | null;
  maxValidity: { ms: number; text: string } | null;
  sponsorRequired: boolean;
}

export interface AccessException {
  id: string;
  identityId: string;
  accessGroupId: string;
  until: string;
  reason: string;
  source: 'manual' | 'review';
  sourceRef: string | null;
  createdBy: string;
  createdAt: string;
  removedAt: string | null;
  removedBy: string | null;
  removedReason: string | null;
  person?: PersonRef | null;
}

/** The person a list item is about, by name. */
export interface PersonRef {
  userName: string;
  displayName: string | null;
  externalId?: string;
}

export interface ApprovalStep {
  kind: 'owner' | 'approver' | 'sponsor';
  who: string | null;
  groups: string[];
  approvedBy: string | null;
  approvedAt: string | null;
  comment: string | null;
}

export interface AccessRequest {
  id: string;
  identityId: string;
  kind: 'accessGroup' | 'role';
  target: string;
  groups: string[];
  validFrom: string;
  validUntil: string;
  justification: string;
  status: 'pending' | 'approved' | 'denied';
  steps: ApprovalStep[];
  requestedBy: string;
  createdAt: string;
  decidedAt: string | null;
  decidedBy: string | null;
  decisionComment: string | null;
  person?: PersonRef | null;
}

export interface ReviewCampaign {
  id: string;
  reviewId: string;
  status: 'open' | 'closed';
  startedAt: string;
  startedBy: string;
  deadline: string;
  nextReminderAt: string | null;
  revokeUntil: string;
  undecided: 'keep' | 'revoke';
  closedAt: string | null;
}

export interface ReviewItem {
  id: string;
  campaignId: string;
  identityId: string;
  userName: string;
  accessGroupId: string;
  reviewerKind: 'owner' | 'manager' | 'sponsor' | null;
  reviewer: string | null;
  decision: 'keep' | 'revoke' | null;
  decidedBy: string | null;
  decidedAt: string | null;
  comment: string | null;
  decidedVia: 'reviewer' | 'deadline' | null;
  exceptionId: string | null;
}

export interface ReviewReport {
  campaign: ReviewCampaign;
  summary: { items: number; kept: number; revoked: number; undecided: number; byDeadline: number };
  items: ReviewItem[];
}

const q = (params: Record<string, string | undefined>) => {
  const s = new URLSearchParams(Object.entries(params).filter((e): e is [string, string] => !!e[1])).toString();
  return s ? `?${s}` : '';
};

export const governance = {
  accessGroups: () => get<{ accessGroups: DeclaredAccessGroup[] }>('access-groups'),
  exceptions: (all: boolean) => get<{ exceptions: AccessException[] }>(`exceptions${q({ all: all ? 'true' : undefined })}`),
  addException: (b: { identity: string; accessGroup: string; until: string; reason: string }) => post<{ exception: AccessException; run: RunRef }>('exceptions', b),
  removeException: (id: string, reason: string) => del<{ exception: AccessException; run: RunRef }>(`exceptions/${encodeURIComponent(id)}`, { reason }),
  requests: (status: string) => get<{ requests: AccessRequest[] }>(`requests${q({ status })}`),
  createRequest: (b: { identity: string; accessGroup?: string; role?: string; from?: string; until: string; justification: string }) => post<AccessRequest>('requests', b),
  approveRequest: (id: string, comment: string) => post<{ request: AccessRequest; run: RunRef | null }>(`requests/${encodeURIComponent(id)}/approve`, comment ? { comment } : {}),
  denyRequest: (id: string, comment: string) => post<{ request: AccessRequest }>(`requests/${encodeURIComponent(id)}/deny`, { comment }),
  reviews: (status: string) => get<{ campaigns: ReviewCampaign[] }>(`reviews${q({ status })}`),
  startReview: (review: string) => post<{ campaign: ReviewCampaign; items: ReviewItem[] }>('reviews', { review }),
  review: (id: string) => get<ReviewReport>(`reviews/${encodeURIComponent(id)}`),
  decide: (id: string, item: string, decision: 'keep' | 'revoke', comment: string) =>
    post<{ item: ReviewItem; run: RunRef | null }>(`reviews/${encodeURIComponent(id)}/items/${encodeURIComponent(item)}/decide`, comment ? { decision, comment } : { decision }),
  reportCsv: (c: ReviewCampaign) => download(`reviews/${encodeURIComponent(c.id)}/report?format=csv`, `review-${c.reviewId}-${c.startedAt.slice(0, 10)}.csv`),
};
