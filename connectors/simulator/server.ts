import { createHash, timingSafeEqual } from 'node:crypto';
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { z } from 'zod';
import { LockstepError, type ErrorCode } from '../../src/domain/errors.js';
import { DEFAULT_GROUPS, SimulatorState, type SimGroup, type SimProfile } from './state.js';
import { applySeed, type SeedRow } from './seed.js';

/**
 * lockstep's reference lock system: a real HTTP server shaped like a clean vendor API,
 * for demos, tests and benchmarks, with fault injection. See README-like notes on each
 * route below; bodies are JSON, errors are `{ error, message, field? }`.
 */

export interface SimulatorOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
  /** JSON state file: loaded at start if present, written atomically (debounced) after changes. */
  stateFile?: string;
  /** When set, every route but /api/health needs `Authorization: Bearer KEY` or `X-Api-Key: KEY`. */
  apiKey?: string;
  /** The kind of lock system to play (stored validity, suspension, offline keys). Default: all online, windows on memberships. */
  profile?: Partial<SimProfile>;
  /** Groups defined (or redefined) at start. Without any, an empty simulator gets DEFAULT_GROUPS. */
  groups?: SimGroup[];
  /** Cardholders and cards to start with when there is no state yet (no state file, no accounts): a demo's lock system (seed.ts). */
  seed?: SeedRow[];
  /** Quiet period before a change is written to the state file. Default 250. */
  persistDebounceMs?: number;
  maxEvents?: number;
  maxChanges?: number;
  logger?: { info(o: object, msg?: string): void; warn(o: object, msg?: string): void; error(o: object, msg?: string): void };
}

export interface Faults {
  /** Added before every answer. */
  latencyMs: number;
  /** Share of requests, 0..1, answered with `status`. */
  errorRate: number;
  /** Everything but /api/_faults answers 503. */
  outage: boolean;
  /** Status of injected failures. Default 503. */
  status: number;
  /** The next `times` requests answer `status`. */
  times: number;
  /** Sent as Retry-After with injected 429/503 answers. */
  retryAfterSeconds: number | null;
}

export const faultInputSchema = z
  .object({
    latencyMs: z.number().int().min(0).max(600_000).optional(),
    errorRate: z.number().min(0).max(1).optional(),
    outage: z.boolean().optional(),
    status: z.number().int().min(400).max(599).optional(),
    times: z.number().int().min(0).optional(),
    retryAfterSeconds: z.number().min(0).nullable().optional(),
  })
  .strict();
export type FaultInput = z.infer<typeof faultInputSchema>;

export interface RunningSimulator {
  /** Root URL, e.g. `http://127.0.0.1:41234` (the API is under /api). This is the driver's `url` option. */
  url: string;
  port: number;
  /** Direct access to the simulator's world, for tests and seeding. */
  state: SimulatorState;
  faults: {
    current(): Faults;
    /** Merges into the current faults; `status` alone means "the next request fails". */
    set(f: FaultInput): Faults;
    clear(): void;
  };
  /** Writes pending state to the state file now. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

const NO_FAULTS: Faults = { latencyMs: 0, errorRate: 0, outage: false, status: 503, times: 0, retryAfterSeconds: null };

// ---- request bodies (validated at the edge) ---------------------------------------------

/**
 * The longest account fields the simulator stores; longer ones it refuses with a 400, as a
 * real PACS does. The driver declares them (capabilities.limits), so lockstep refuses such a
 * person at its edge instead of accepting what can never arrive.
 */
export const SIM_LIMITS = { displayName: 500, externalId: 500, email: 1000, name: 1000 } as const;

const nullableText = z.string().max(SIM_LIMITS.name).nullable().optional();
const validityInput = z.object({ from: z.string().nullable().optional(), until: z.string().nullable().optional() }).strict();
const accountFields = {
  externalId: z.string().min(1).max(SIM_LIMITS.externalId).nullable().optional(),
  displayName: z.string().min(1).max(SIM_LIMITS.displayName),
  firstName: nullableText,
  lastName: nullableText,
  email: z.string().max(SIM_LIMITS.email).nullable().optional(),
  state: z.enum(['active', 'suspended']).optional(),
  validity: validityInput.optional(),
};
const accountCreateSchema = z.object(accountFields).strict();
const accountPatchSchema = z.object({ ...accountFields, displayName: accountFields.displayName.optional() }).strict();
const groupSchema = z.object({ name: z.string().min(1).max(500), doors: z.array(z.string().min(1)).default([]) }).strict();
const credentialIssueSchema = z
  .object({
    type: z.enum(['card', 'key', 'mobile', 'pin']).optional(),
    number: z.string().min(1).max(100).optional(),
    status: z.enum(['active', 'suspended', 'lost', 'revoked']).optional(),
  })
  .strict();
const credentialPatchSchema = z.object({ status: z.enum(['active', 'suspended', 'lost', 'revoked']) }).strict();
const swipeSchema = z
  .object({
    credentialId: z.string().min(1).optional(),
    number: z.string().min(1).optional(),
    door: z.string().min(1).optional(),
    group: z.string().min(1).optional(),
  })
  .strict()
  .refine((s) => s.credentialId !== undefined || s.number !== undefined, { message: 'credentialId or number is required', path: ['credentialId'] })
  .refine((s) => s.door !== undefined || s.group !== undefined, { message: 'door or group is required', path: ['door'] });

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body ?? {});
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const field = issue.path.join('.');
  throw new LockstepError('validation', field ? `${field}: ${issue.message}` : issue.message, { field: field || undefined });
}

// ---- routing ------------------------------------------------------------------------------

interface Ctx {
  params: Record<string, string>;
  query: URLSearchParams;
  body: unknown;
}
interface Reply {
  status: number;
  body?: unknown;
}
type Handler = (ctx: Ctx) => Reply | Promise<Reply>;
interface Route {
  method: string;
  segments: string[];
  handler: Handler;
}

function matchRoute(routes: Route[], method: string, path: string): { route: Route; params: Record<string, string> } | null {
  const parts = path.split('/').filter(Boolean);
  for (const route of routes) {
    if (route.method !== method || route.segments.length !== parts.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < parts.length && ok; i++) {
      const seg = route.segments[i];
      if (seg.startsWith(':')) params[seg.slice(1)] = decodeURIComponent(parts[i]);
      else ok = seg === parts[i];
    }
    if (ok) return { route, params };
  }
  return null;
}

function limitOf(q: URLSearchParams, def: number, max: number): number {
  const raw = q.get('limit');
  if (raw === null) return def;
  if (!/^\d+$/.test(raw) || Number(raw) < 1) throw new LockstepError('validation', 'limit must be a positive integer', { field: 'limit' });
  return Math.min(Number(raw), max);
}

function buildRoutes(state: SimulatorState, faults: RunningSimulator['faults']): Route[] {
  const routes: Route[] = [];
  const on = (method: string, path: string, handler: Handler): void => {
    routes.push({ method, segments: path.split('/').filter(Boolean), handler });
  };

  on('GET', '/api/health', () => ({
    status: 200,
    body: { status: 'ok', accounts: state.accountCount, groups: state.listGroups().length },
  }));

  on('GET', '/api/groups', () => ({ status: 200, body: { items: state.listGroups() } }));
  on('GET', '/api/groups/:id', ({ params }) => {
    const g = state.getGroup(params.id);
    if (!g) throw new LockstepError('not_found', `no access group ${params.id}`);
    return { status: 200, body: g };
  });
  on('PUT', '/api/groups/:id', ({ params, body }) => {
    const g = parse(groupSchema, body);
    const created = state.putGroup({ id: params.id, name: g.name, doors: g.doors });
    return { status: created ? 201 : 200, body: state.getGroup(params.id) };
  });

  // ?externalId= is an exact lookup; otherwise pages in creation order: ?after=<next>&limit=.
  // ?view=compact leaves out the bookkeeping timestamps (a full reconciliation reads every page).
  on('GET', '/api/accounts', ({ query }) => {
    const externalId = query.get('externalId');
    if (externalId !== null) {
      const a = state.findByExternalId(externalId);
      return { status: 200, body: { items: a ? [a] : [], next: null } };
    }
    const view = query.get('view');
    if (view !== null && view !== 'compact' && view !== 'full') throw new LockstepError('validation', 'view must be compact or full', { field: 'view' });
    const limit = limitOf(query, 100, 1000);
    return {
      status: 200,
      body: view === 'compact' ? state.listAccounts(query.get('after'), limit, { compact: true }) : state.listAccounts(query.get('after'), limit),
    };
  });
  on('POST', '/api/accounts', ({ body }) => ({ status: 201, body: state.createAccount(parse(accountCreateSchema, body)) }));
  on('GET', '/api/accounts/:id', ({ params }) => {
    const a = state.getAccount(params.id);
    if (!a) throw new LockstepError('not_found', `no account ${params.id}`);
    return { status: 200, body: a };
  });
  on('PATCH', '/api/accounts/:id', ({ params, body }) => ({
    status: 200,
    body: state.updateAccount(params.id, parse(accountPatchSchema, body)),
  }));
  on('DELETE', '/api/accounts/:id', ({ params }) => {
    if (!state.deleteAccount(params.id)) throw new LockstepError('not_found', `no account ${params.id}`);
    return { status: 204 };
  });

  on('GET', '/api/accounts/:id/memberships', ({ params }) => {
    const a = state.getAccount(params.id);
    if (!a) throw new LockstepError('not_found', `no account ${params.id}`);
    return { status: 200, body: { items: a.memberships } };
  });
  // Idempotent: the body is the membership's whole validity; absent fields mean "unbounded".
  on('PUT', '/api/accounts/:id/memberships/:group', ({ params, body }) => {
    const v = parse(validityInput, body);
    const { membership, created } = state.putMembership(params.id, params.group, v);
    return { status: created ? 201 : 200, body: membership };
  });
  // Idempotent: removing a membership that is not there is a success.
  on('DELETE', '/api/accounts/:id/memberships/:group', ({ params }) => {
    state.deleteMembership(params.id, params.group);
    return { status: 204 };
  });

  on('POST', '/api/accounts/:id/credentials', ({ params, body }) => ({
    status: 201,
    body: state.issueCredential(params.id, parse(credentialIssueSchema, body)),
  }));
  on('PATCH', '/api/accounts/:id/credentials/:credentialId', ({ params, body }) => ({
    status: 200,
    body: state.setCredentialStatus(params.id, params.credentialId, parse(credentialPatchSchema, body).status),
  }));

  // What kind of lock system this is: the driver reads it to declare its capabilities.
  on('GET', '/api/capabilities', () => ({ status: 200, body: state.profile }));
  // Offline profile: a key presented at an online reader learns what the system holds now.
  on('POST', '/api/credentials/:credentialId/key-update', ({ params }) => ({ status: 200, body: state.updateKey(params.credentialId) }));
  on('POST', '/api/swipe', ({ body }) => ({ status: 200, body: state.swipe(parse(swipeSchema, body)) }));
  on('GET', '/api/events', ({ query }) => ({ status: 200, body: state.listEvents(query.get('after'), limitOf(query, 100, 1000)) }));
  on('GET', '/api/changes', ({ query }) => ({ status: 200, body: state.listChanges(query.get('after'), limitOf(query, 100, 5000)) }));
  on('GET', '/api/export', () => ({ status: 200, body: state.export() }));

  on('GET', '/api/_faults', () => ({ status: 200, body: faults.current() }));
  on('POST', '/api/_faults', ({ body }) => ({ status: 200, body: faults.set(parse(faultInputSchema, body)) }));
  on('DELETE', '/api/_faults', () => {
    faults.clear();
    return { status: 204 };
  });
  return routes;
}

// ---- HTTP plumbing ------------------------------------------------------------------------

const STATUS_OF: Partial<Record<ErrorCode, number>> = {
  validation: 400,
  auth: 401,
  not_found: 404,
  conflict: 409,
  rate_limited: 429,
  unavailable: 503,
};

const MAX_BODY = 1 << 20;

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new LockstepError('validation', 'request body over 1 MiB');
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new LockstepError('validation', 'request body is not valid JSON');
  }
}

function send(res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  if (status === 204 || body === undefined) {
    res.writeHead(status, headers);
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function sendError(res: ServerResponse, e: unknown): void {
  const err = e instanceof LockstepError ? e : new LockstepError('internal', 'internal error');
  send(res, STATUS_OF[err.code] ?? 500, { error: err.code, message: err.message, ...(err.field ? { field: err.field } : {}) });
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** Constant-time comparison of the presented key with the configured one (hashing evens out lengths). */
function authorised(req: IncomingMessage, keyDigest: Buffer): boolean {
  const auth = req.headers.authorization;
  const presented = auth?.toLowerCase().startsWith('bearer ') ? auth.slice(7).trim() : req.headers['x-api-key'];
  if (typeof presented !== 'string' || presented === '') return false;
  return timingSafeEqual(digest(presented), keyDigest);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---- persistence --------------------------------------------------------------------------

/** Debounced, one write at a time, temp file + rename so a crash never leaves half a file. */
class Persister {
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> | null = null;
  private dirty = false;
  private lastWriteMs = 0;

  constructor(
    private readonly file: string,
    private readonly state: SimulatorState,
    private readonly debounceMs: number,
    private readonly logger?: SimulatorOptions['logger'],
  ) {}

  schedule(): void {
    this.dirty = true;
    if (this.timer || this.writing) return;
    // Serialising 100k accounts blocks the event loop for a while: a big state is written
    // less often, so a benchmark against a persisted simulator is not mostly measuring saves.
    this.timer = setTimeout(() => void this.run(), Math.max(this.debounceMs, this.lastWriteMs * 4));
    this.timer.unref();
  }

  async flush(): Promise<void> {
    while (this.timer || this.writing || this.dirty) {
      if (this.timer) {
        clearTimeout(this.timer);
        this.timer = null;
      }
      if (this.writing) {
        await this.writing.catch(() => undefined);
        continue;
      }
      if (this.dirty) await this.run(true);
    }
  }

  private async run(rethrow = false): Promise<void> {
    this.timer = null;
    if (!this.dirty) return;
    this.dirty = false;
    this.writing = this.write();
    try {
      await this.writing;
    } catch (e) {
      this.logger?.error({ err: e, file: this.file }, 'simulator: could not write state file');
      if (rethrow) throw e;
    } finally {
      this.writing = null;
      // Changes that arrived during the write get their own write; flush() drives it itself.
      if (this.dirty && !rethrow) this.schedule();
    }
  }

  private async write(): Promise<void> {
    const started = Date.now();
    const json = JSON.stringify(this.state.export());
    await mkdir(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(json);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.file);
    this.lastWriteMs = Date.now() - started;
  }
}

async function loadStateFile(file: string, state: SimulatorState): Promise<boolean> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new LockstepError('config', `simulator state file ${file} cannot be read: ${(e as Error).message}`, { field: 'stateFile', cause: e });
  }
  try {
    state.load(JSON.parse(text) as unknown);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new LockstepError('config', `simulator state file ${file} is not usable: ${why}`, { field: 'stateFile', cause: e });
  }
  return true;
}

// ---- the server ---------------------------------------------------------------------------

export async function startSimulator(opts: SimulatorOptions = {}): Promise<RunningSimulator> {
  const host = opts.host ?? '127.0.0.1';
  const state = new SimulatorState({ maxEvents: opts.maxEvents, maxChanges: opts.maxChanges, ...(opts.profile ? { profile: opts.profile } : {}) });
  const loaded = opts.stateFile ? await loadStateFile(opts.stateFile, state) : false;
  const persister = opts.stateFile ? new Persister(opts.stateFile, state, opts.persistDebounceMs ?? 250, opts.logger) : null;
  if (persister) state.onChange = () => persister.schedule();
  for (const g of opts.groups ?? []) state.putGroup(g);
  if (!opts.groups?.length && state.listGroups().length === 0) for (const g of DEFAULT_GROUPS) state.putGroup(g);
  // only a simulator that never ran: what lockstep changed since (a deleted leaver) stays changed
  if (opts.seed?.length && !loaded && state.accountCount === 0) applySeed(state, opts.seed);

  let faults: Faults = { ...NO_FAULTS };
  const faultControl: RunningSimulator['faults'] = {
    current: () => ({ ...faults }),
    set: (f) => {
      const next: Faults = { ...faults };
      for (const [k, v] of Object.entries(f)) if (v !== undefined) (next as unknown as Record<string, unknown>)[k] = v;
      if (f.status !== undefined && f.times === undefined && f.errorRate === undefined) next.times = 1;
      faults = next;
      return { ...faults };
    },
    clear: () => {
      faults = { ...NO_FAULTS };
    },
  };

  const routes = buildRoutes(state, faultControl);
  const keyDigest = opts.apiKey ? digest(opts.apiKey) : null;

  const injected = (res: ServerResponse, status: number): void => {
    const headers: Record<string, string> = {};
    if (faults.retryAfterSeconds !== null && (status === 429 || status === 503)) headers['retry-after'] = String(faults.retryAfterSeconds);
    send(res, status, { error: 'injected_fault', message: `fault injection: ${status}` }, headers);
  };

  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://simulator');
      const path = url.pathname.replace(/\/+$/, '') || '/';
      const method = req.method ?? 'GET';
      const isControl = path === '/api/_faults';
      if (!isControl) {
        if (faults.latencyMs > 0) await sleep(faults.latencyMs);
        if (faults.outage) return injected(res, 503);
        if (faults.times > 0) {
          faults.times--;
          return injected(res, faults.status);
        }
        if (faults.errorRate > 0 && Math.random() < faults.errorRate) return injected(res, faults.status);
      }
      if (keyDigest && path !== '/api/health' && !authorised(req, keyDigest)) {
        return send(res, 401, { error: 'auth', message: 'missing or wrong API key' }, { 'www-authenticate': 'Bearer' });
      }
      const match = matchRoute(routes, method, path);
      if (!match) return send(res, 404, { error: 'not_found', message: `no route ${method} ${path}` });
      const body = method === 'GET' || method === 'DELETE' ? undefined : await readJson(req);
      const reply = await match.route.handler({ params: match.params, query: url.searchParams, body });
      send(res, reply.status, reply.body);
    })().catch((e: unknown) => {
      if (!(e instanceof LockstepError)) opts.logger?.error({ err: e }, 'simulator: request failed');
      sendError(res, e);
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  opts.logger?.info({ url, stateFile: opts.stateFile, loaded, accounts: state.accountCount }, 'simulator listening');

  let closing: Promise<void> | null = null;
  return {
    url,
    port,
    state,
    faults: faultControl,
    flush: () => persister?.flush() ?? Promise.resolve(),
    close: () => {
      closing ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        await persister?.flush();
      })();
      return closing;
    },
  };
}
