import { randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import {
  fromTimestamp,
  jsonToStruct,
  nebulaServices,
  statusDetailsWithRetry,
  toTimestamp,
  type KeyState,
  type PbAccessRight,
  type PbEvent,
  type PbTimestamp,
  type PbUser,
  type PbUserAccessRight,
} from '../proto.js';

/**
 * A fake Salto Nebula: a real @grpc/grpc-js server on 127.0.0.1 serving the services of
 * lockstep's subset (../proto.ts) with the vendor's message shapes, and an OAuth2 token
 * endpoint (client credentials) on loopback HTTP that issues the bearer tokens the gRPC calls
 * must carry.
 *
 * What it models, as Nebula documents it:
 * - users under `installations/{id}/users/{user_id}` (custom ids from CreateUserRequest.user_id),
 *   with activate/expire times, `blocked` (BlockUser / UnblockUser) and one key of each kind;
 * - access rights, and user access rights (the assignment) with optional activate/expire times;
 * - data-on-card keys: every change of what a user may open (an access right assigned, changed
 *   or removed, a block, new user dates) marks the user's keys `outdated`; the key itself still
 *   carries what it learned at its last update, so offline locks keep opening for it until it
 *   is updated (EncodeCardKey at an encoder, a long-running operation, or presenting the key at
 *   an online access point) or its `expire_time` (the installation's key renewal duration
 *   after that update) passes;
 * - events (`com.saltosystems.nebula.event.v1.*`) listed by create_time with page tokens.
 * Faults and levers for tests: failNext, revokeTokens, issueCardKey, presentKey, recordUnlock.
 */

export interface FakeNebulaOptions {
  /** The installation id (`installations/{id}`). Default `lockstep-test`. */
  installationId?: string;
  clientId?: string;
  clientSecret?: string;
  /** Lifetime of issued access tokens. Default 3600 s. */
  tokenTtlSeconds?: number;
  /** The installation's key_renewal_duration in days. Default 7 (Nebula's default). */
  keyRenewalDays?: number;
  /** Access rights to create: id → display name. Default office, lab, server-room. */
  accessRights?: Record<string, string>;
  now?: () => number;
}

export type FakeKeyKind = 'card_key' | 'electronic_key' | 'app_key' | 'wallet_key' | 'passcode';

/** A key as the fake keeps it: the wire fields, and what the key itself carries (data on card). */
export interface FakeKey {
  kind: FakeKeyKind;
  state: KeyState;
  uid: string;
  deviceId: string;
  outdated: boolean;
  /** When the key was last updated (encoded, or presented online); null: never. */
  updatedAt: number | null;
  /** The access rights (names) written on the key at its last update. */
  learned: Set<string>;
  /** The user's blocked flag as the key learned it. */
  learnedBlocked: boolean;
}

export interface FakeUser {
  name: string;
  givenName: string;
  familyName: string | null;
  email: string | null;
  activateTime: number | null;
  expireTime: number | null;
  blocked: boolean;
  keys: Record<FakeKeyKind, FakeKey>;
}

export interface FakeUserAccessRight {
  name: string;
  user: string;
  accessRight: string;
  activateTime: number | null;
  expireTime: number | null;
}

export interface FakeEvent {
  name: string;
  type: string;
  createTime: number;
  occurTime: number;
  data: Record<string, unknown>;
}

interface FakeOperation {
  name: string;
  done: boolean;
  error?: { code: number; message: string };
  complete: () => void;
}

/** Resource ids the fake accepts: no slash, at most 128 characters (Nebula documents no stricter rule). */
const ID_RE = /^[^/\s]{1,128}$/;
const KEY_KINDS: FakeKeyKind[] = ['card_key', 'electronic_key', 'app_key', 'wallet_key', 'passcode'];
const KEY_SEGMENT: Record<FakeKeyKind, string> = {
  card_key: 'card-key',
  electronic_key: 'electronic-key',
  app_key: 'app-key',
  wallet_key: 'wallet-key',
  passcode: 'passcode',
};
export const NEBULA_SCOPE = 'https://saltoapis.com/auth/nebula';
export const EVENT_UNLOCKED = 'com.saltosystems.nebula.event.v1.accesspointunlocked';
export const EVENT_DENIED = 'com.saltosystems.nebula.event.v1.accessdenied';

class Fault extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

type Handler = (req: Record<string, unknown>, md: grpc.Metadata) => unknown;

export class FakeNebula {
  readonly installation: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly users = new Map<string, FakeUser>();
  readonly accessRights = new Map<string, PbAccessRight>();
  readonly userAccessRights = new Map<string, FakeUserAccessRight>();
  readonly events: FakeEvent[] = [];
  readonly operations = new Map<string, FakeOperation>();
  /** Every RPC the fake answered or refused: method and gRPC status code (0 = OK). */
  readonly calls: Array<{ method: string; code: grpc.status }> = [];
  /** Token requests answered with a token. */
  tokensIssued = 0;
  keyRenewalMs: number;
  address = '';
  tokenUrl = '';

  private readonly tokens = new Map<string, number>();
  private readonly tokenTtlMs: number;
  private readonly now: () => number;
  private readonly grpcServer = new grpc.Server();
  private readonly httpServer: http.Server;
  private faults: Array<{ code: grpc.status; times: number; retryAfterSeconds?: number; retryAfterAs: 'details' | 'trailer'; method?: string }> = [];
  private seq = 0;
  private lastEventTime = 0;

  constructor(opts: FakeNebulaOptions = {}) {
    this.installation = `installations/${opts.installationId ?? 'lockstep-test'}`;
    this.clientId = opts.clientId ?? 'lockstep-client';
    this.clientSecret = opts.clientSecret ?? 'lockstep-secret';
    this.tokenTtlMs = (opts.tokenTtlSeconds ?? 3600) * 1000;
    this.keyRenewalMs = (opts.keyRenewalDays ?? 7) * 86_400_000;
    this.now = opts.now ?? Date.now;
    for (const [id, displayName] of Object.entries(opts.accessRights ?? { office: 'Office', lab: 'Lab', 'server-room': 'Server room' })) {
      const name = `${this.installation}/access-rights/${id}`;
      this.accessRights.set(name, { name, display_name: displayName });
    }
    this.httpServer = http.createServer((req, res) => this.tokenEndpoint(req, res));
    this.addServices();
  }

  async start(): Promise<void> {
    const port = await new Promise<number>((resolve, reject) =>
      this.grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    this.address = `127.0.0.1:${port}`;
    await new Promise<void>((resolve) => this.httpServer.listen(0, '127.0.0.1', () => resolve()));
    this.tokenUrl = `http://127.0.0.1:${(this.httpServer.address() as AddressInfo).port}/oauth2/token`;
  }

  async close(): Promise<void> {
    this.grpcServer.forceShutdown();
    this.httpServer.closeAllConnections();
    await new Promise<void>((resolve) => this.httpServer.close(() => resolve()));
  }

  // ---------------------------------------------------------------- levers

  /**
   * The next `times` RPCs (of `method`, e.g. `UserService/GetUser`, if given) fail with this
   * status. With retryAfterSeconds the delay goes as google.rpc.RetryInfo in the status details
   * (`grpc-status-details-bin`), or, with `retryAfterAs: 'trailer'`, as a plain `retry-after` trailer.
   */
  failNext(code: grpc.status, opts: { times?: number; retryAfterSeconds?: number; retryAfterAs?: 'details' | 'trailer'; method?: string } = {}): void {
    this.faults.push({
      code,
      times: opts.times ?? 1,
      retryAfterSeconds: opts.retryAfterSeconds,
      retryAfterAs: opts.retryAfterAs ?? 'details',
      method: opts.method,
    });
  }

  /** Every issued token stops being accepted (as after a key rotation or a revoked client). */
  revokeTokens(): void {
    this.tokens.clear();
  }

  /** Creates users directly (not through the API): `{prefix}{n}`, n from 1. */
  seedUsers(count: number, prefix = 'seed-'): void {
    const start = this.users.size;
    for (let i = 1; i <= count; i++) {
      const id = `${prefix}${start + i}`;
      this.putUser(id, { givenName: 'Seed', familyName: `User ${start + i}`, email: null, activateTime: null, expireTime: null });
    }
  }

  /** A card key issued at the desk and encoded there: active, up to date, valid for the renewal duration. */
  issueCardKey(userName: string, uid = randomBytes(7).toString('hex').toUpperCase()): FakeKey {
    const u = this.mustUser(userName);
    const k = u.keys.card_key;
    k.uid = uid;
    k.state = 'ACTIVE';
    this.updateKey(u, k);
    return k;
  }

  /** The user presents the key at an online access point: it learns what Nebula holds now. */
  presentKey(userName: string, kind: FakeKeyKind = 'card_key'): FakeKey {
    const u = this.mustUser(userName);
    const k = u.keys[kind];
    if (k.state === 'NOT_ASSIGNED') throw new Error(`fake: ${userName} has no ${kind}`);
    if (k.state === 'PENDING') k.state = 'ACTIVE';
    this.updateKey(u, k);
    return k;
  }

  /**
   * Whether an offline lock of this access right opens for the user's key: it reads only the
   * key, so it knows what the key learned at its last update, until the key expires.
   */
  offlineLockOpens(userName: string, accessRight: string, kind: FakeKeyKind = 'card_key'): boolean {
    const u = this.mustUser(userName);
    const k = u.keys[kind];
    if (k.state !== 'ACTIVE' || k.updatedAt === null) return false;
    if (this.now() >= k.updatedAt + this.keyRenewalMs) return false;
    return !k.learnedBlocked && k.learned.has(accessRight);
  }

  /** Records an access event: an unlock (granted) or a denial, with the key used. */
  recordAccess(userName: string, opts: { granted?: boolean; kind?: FakeKeyKind; accessPoint?: string } = {}): FakeEvent {
    const u = this.mustUser(userName);
    const kind = opts.kind ?? 'card_key';
    const k = u.keys[kind];
    const ap = opts.accessPoint ?? `${this.installation}/access-points/main-entrance`;
    const granted = opts.granted ?? true;
    return this.pushEvent(granted ? EVENT_UNLOCKED : EVENT_DENIED, {
      access_point: { name: ap, display_name: ap.split('/').pop() },
      user: { name: u.name, display_name: displayName(u) },
      [kind]: { name: keyName(u.name, kind), ...(k.uid ? { uid: k.uid } : {}) },
      ...(granted ? { direction: 'ENTRY' } : { reason: 'CREDENTIAL_PERMISSION_INSUFFICIENT' }),
    });
  }

  /** An event that is not an access (e.g. a user created by a manager). */
  recordOther(type: string, data: Record<string, unknown> = {}): FakeEvent {
    return this.pushEvent(type, data);
  }

  userByName(name: string): FakeUser | undefined {
    return this.users.get(name);
  }

  accessRightsOf(userName: string): FakeUserAccessRight[] {
    return [...this.userAccessRights.values()].filter((r) => r.user === userName);
  }

  // ---------------------------------------------------------------- model

  private putUser(id: string, f: Pick<FakeUser, 'givenName' | 'familyName' | 'email' | 'activateTime' | 'expireTime'>): FakeUser {
    const name = `${this.installation}/users/${id}`;
    const keys = Object.fromEntries(
      KEY_KINDS.map((kind) => [
        kind,
        { kind, state: 'NOT_ASSIGNED', uid: '', deviceId: '', outdated: false, updatedAt: null, learned: new Set(), learnedBlocked: false },
      ]),
    ) as unknown as Record<FakeKeyKind, FakeKey>;
    const u: FakeUser = { name, ...f, blocked: false, keys };
    this.users.set(name, u);
    return u;
  }

  private updateKey(u: FakeUser, k: FakeKey): void {
    const now = this.now();
    k.outdated = false;
    k.updatedAt = now;
    k.learnedBlocked = u.blocked;
    k.learned = new Set(
      this.accessRightsOf(u.name)
        .filter((r) => (r.activateTime === null || r.activateTime <= now + this.keyRenewalMs) && (r.expireTime === null || r.expireTime > now))
        .map((r) => r.accessRight),
    );
  }

  /** What the user may open changed: keys written before now no longer match it. */
  private outdate(u: FakeUser): void {
    for (const k of Object.values(u.keys)) if (k.state !== 'NOT_ASSIGNED' && k.kind !== 'passcode') k.outdated = true;
  }

  private mustUser(name: string): FakeUser {
    const u = this.users.get(name);
    if (!u) throw new Fault(grpc.status.NOT_FOUND, `user ${name} not found`);
    return u;
  }

  private userOfKey(keyResource: string, kind: FakeKeyKind): FakeUser {
    const suffix = `/${KEY_SEGMENT[kind]}`;
    if (!keyResource.endsWith(suffix)) throw new Fault(grpc.status.INVALID_ARGUMENT, `name must be a ${kind} resource name (users/*${suffix})`);
    return this.mustUser(keyResource.slice(0, -suffix.length));
  }

  private pushEvent(type: string, data: Record<string, unknown>): FakeEvent {
    // create_time never goes backwards, so listing by it misses nothing
    const t = Math.max(this.now(), this.lastEventTime);
    this.lastEventTime = t;
    const e: FakeEvent = { name: `${this.installation}/events/${String(++this.seq).padStart(12, '0')}`, type, createTime: t, occurTime: t, data };
    this.events.push(e);
    return e;
  }

  // ---------------------------------------------------------------- wire shapes

  private userMessage(u: FakeUser): PbUser {
    const ts = (t: number | null) => (t === null ? null : toTimestamp(new Date(t).toISOString()));
    const expire = (k: FakeKey) => (k.updatedAt === null ? null : ts(k.updatedAt + this.keyRenewalMs));
    const { card_key: c, electronic_key: e, app_key: a, wallet_key: w, passcode: p } = u.keys;
    return {
      name: u.name,
      given_name: u.givenName,
      ...(u.familyName !== null ? { family_name: u.familyName } : {}),
      display_name: displayName(u),
      ...(u.email !== null ? { email: u.email } : {}),
      activate_time: ts(u.activateTime),
      expire_time: ts(u.expireTime),
      blocked: u.blocked,
      card_key: { name: keyName(u.name, 'card_key'), uid: c.uid, state: c.state, outdated: c.outdated, expire_time: expire(c) },
      electronic_key: { name: keyName(u.name, 'electronic_key'), device_id: e.deviceId, state: e.state, outdated: e.outdated, expire_time: expire(e) },
      app_key: { name: keyName(u.name, 'app_key'), state: a.state, outdated: a.outdated },
      wallet_key: { name: keyName(u.name, 'wallet_key'), state: w.state, outdated: w.outdated },
      passcode: { name: keyName(u.name, 'passcode'), state: p.state === 'PENDING' ? 'ACTIVE' : p.state },
    };
  }

  private uarMessage(r: FakeUserAccessRight): PbUserAccessRight {
    return {
      name: r.name,
      access_right: r.accessRight,
      display_name: this.accessRights.get(r.accessRight)?.display_name ?? '',
      ...(r.activateTime !== null ? { activate_time: toTimestamp(new Date(r.activateTime).toISOString()) } : {}),
      ...(r.expireTime !== null ? { expire_time: toTimestamp(new Date(r.expireTime).toISOString()) } : {}),
    };
  }

  private eventMessage(e: FakeEvent): PbEvent {
    return {
      name: e.name,
      type: e.type,
      resource: this.installation,
      create_time: toTimestamp(new Date(e.createTime).toISOString()),
      occur_time: toTimestamp(new Date(e.occurTime).toISOString()),
      data: jsonToStruct(e.data),
    };
  }

  // ---------------------------------------------------------------- services

  private addServices(): void {
    const s = nebulaServices();
    this.grpcServer.addService(s.UserService.service, this.wrap('UserService', this.userService()));
    this.grpcServer.addService(s.AccessRightService.service, this.wrap('AccessRightService', this.accessRightService()));
    this.grpcServer.addService(s.EventService.service, this.wrap('EventService', { ListEvents: (r) => this.listEvents(r) }));
    this.grpcServer.addService(
      s.InstallationService.service,
      this.wrap('InstallationService', {
        GetInstallation: (r) => {
          if (r.name !== this.installation) throw new Fault(grpc.status.NOT_FOUND, `installation ${String(r.name)} not found`);
          const secs = Math.floor(this.keyRenewalMs / 1000);
          return {
            name: this.installation,
            display_name: 'Lockstep test site',
            time_zone: 'Europe/Madrid',
            key_renewal_duration: { seconds: String(secs), nanos: 0 },
          };
        },
      }),
    );
    this.grpcServer.addService(
      s.OperationService.service,
      this.wrap('OperationService', {
        GetOperation: (r) => {
          const op = this.operations.get(String(r.name));
          if (!op) throw new Fault(grpc.status.NOT_FOUND, `operation ${String(r.name)} not found`);
          // the encoder finishes between the request and the first poll
          if (!op.done) op.complete();
          return operationMessage(op);
        },
      }),
    );
  }

  /** Auth, fault injection and error mapping around each handler. */
  private wrap(service: string, handlers: Record<string, Handler>): grpc.UntypedServiceImplementation {
    const out: grpc.UntypedServiceImplementation = {};
    for (const [method, fn] of Object.entries(handlers)) {
      out[method] = ((call: grpc.ServerUnaryCall<Record<string, unknown>, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        const full = `${service}/${method}`;
        const fail = (code: grpc.status, details: string, metadata?: grpc.Metadata) => {
          this.calls.push({ method: full, code });
          callback({ code, details, ...(metadata ? { metadata } : {}) });
        };
        const auth = call.metadata.get('authorization')[0];
        const token = typeof auth === 'string' && /^Bearer\s+/i.test(auth) ? auth.replace(/^Bearer\s+/i, '') : null;
        const exp = token ? this.tokens.get(token) : undefined;
        if (exp === undefined || exp <= this.now()) return fail(grpc.status.UNAUTHENTICATED, 'missing or invalid access token');
        const fault = this.faults.find((f) => f.method === undefined || f.method === full);
        if (fault) {
          if (--fault.times <= 0) this.faults.splice(this.faults.indexOf(fault), 1);
          const md = new grpc.Metadata();
          if (fault.retryAfterSeconds !== undefined) {
            if (fault.retryAfterAs === 'trailer') md.set('retry-after', String(fault.retryAfterSeconds));
            else md.set('grpc-status-details-bin', statusDetailsWithRetry(fault.code, 'injected fault', fault.retryAfterSeconds * 1000));
          }
          return fail(fault.code, 'injected fault', md);
        }
        try {
          const res = fn(call.request, call.metadata);
          this.calls.push({ method: full, code: grpc.status.OK });
          callback(null, res);
        } catch (e) {
          if (e instanceof Fault) return fail(e.code, e.message);
          return fail(grpc.status.INTERNAL, e instanceof Error ? e.message : String(e));
        }
      }) as grpc.handleUnaryCall<unknown, unknown>;
    }
    return out;
  }

  private userService(): Record<string, Handler> {
    return {
      CreateUser: (r) => {
        if (r.parent !== this.installation) throw new Fault(grpc.status.PERMISSION_DENIED, `no access to ${String(r.parent)}`);
        const body = (r.user ?? {}) as Partial<PbUser>;
        const id = typeof r.user_id === 'string' && r.user_id !== '' ? r.user_id : ulidish();
        if (!ID_RE.test(id)) throw new Fault(grpc.status.INVALID_ARGUMENT, 'user_id is not a valid resource id');
        if (this.users.has(`${this.installation}/users/${id}`)) throw new Fault(grpc.status.ALREADY_EXISTS, `user ${id} already exists`);
        if (!body.given_name) throw new Fault(grpc.status.INVALID_ARGUMENT, 'given_name is required');
        if (body.email !== undefined && body.email !== '' && !/^[^@\s]+@[^@\s]+$/.test(body.email))
          throw new Fault(grpc.status.INVALID_ARGUMENT, 'email is not valid');
        const times = this.userTimes(fromTimestamp(body.activate_time), fromTimestamp(body.expire_time));
        return this.userMessage(
          this.putUser(id, {
            givenName: body.given_name,
            familyName: body.family_name ?? null,
            email: body.email || null,
            activateTime: times.activate,
            expireTime: times.expire,
          }),
        );
      },
      GetUser: (r) => this.userMessage(this.mustUser(String(r.name))),
      ListUsers: (r) => {
        if (r.parent !== this.installation) throw new Fault(grpc.status.PERMISSION_DENIED, `no access to ${String(r.parent)}`);
        if (r.filter) throw new Fault(grpc.status.INVALID_ARGUMENT, 'the fake supports no user filter');
        const all = [...this.users.values()].sort((a, b) => cmp(a.name, b.name));
        const { items, next } = keysetPage(all, (u) => u.name, r, 'users');
        return { users: items.map((u) => this.userMessage(u)), next_page_token: next, total_size: all.length };
      },
      UpdateUser: (r) => {
        const body = (r.user ?? {}) as Partial<PbUser>;
        const u = this.mustUser(String(body.name));
        const paths = maskPaths(r);
        const next = { ...u };
        for (const p of paths) {
          if (p === 'given_name') {
            if (!body.given_name) throw new Fault(grpc.status.INVALID_ARGUMENT, 'given_name is required');
            next.givenName = body.given_name;
          } else if (p === 'family_name') next.familyName = body.family_name ?? null;
          else if (p === 'email') {
            if (body.email && !/^[^@\s]+@[^@\s]+$/.test(body.email)) throw new Fault(grpc.status.INVALID_ARGUMENT, 'email is not valid');
            next.email = body.email || null;
          } else if (p === 'activate_time') next.activateTime = msOf(body.activate_time);
          else if (p === 'expire_time') next.expireTime = msOf(body.expire_time);
          else throw new Fault(grpc.status.INVALID_ARGUMENT, `field ${p} cannot be updated`);
        }
        this.userTimes(
          next.activateTime === null ? null : new Date(next.activateTime).toISOString(),
          next.expireTime === null ? null : new Date(next.expireTime).toISOString(),
        );
        const datesChanged = next.activateTime !== u.activateTime || next.expireTime !== u.expireTime;
        Object.assign(u, next);
        if (datesChanged) this.outdate(u);
        return this.userMessage(u);
      },
      DeleteUser: (r) => {
        const u = this.mustUser(String(r.name));
        for (const uar of this.accessRightsOf(u.name)) this.userAccessRights.delete(uar.name);
        this.users.delete(u.name);
        return {};
      },
      BlockUser: (r) => {
        const u = this.mustUser(String(r.name));
        if (!u.blocked) {
          u.blocked = true;
          this.outdate(u);
        }
        return {};
      },
      UnblockUser: (r) => {
        const u = this.mustUser(String(r.name));
        if (u.blocked) {
          u.blocked = false;
          this.outdate(u);
        }
        return {};
      },
      CreateUserAccessRight: (r) => {
        const u = this.mustUser(String(r.parent));
        const body = (r.user_access_right ?? {}) as Partial<PbUserAccessRight>;
        const ar = String(body.access_right ?? '');
        if (!this.accessRights.has(ar)) throw new Fault(grpc.status.NOT_FOUND, `access right ${ar} not found`);
        if (this.accessRightsOf(u.name).some((x) => x.accessRight === ar)) throw new Fault(grpc.status.ALREADY_EXISTS, `user already has access right ${ar}`);
        const t = this.userTimes(fromTimestamp(body.activate_time), fromTimestamp(body.expire_time));
        const uar: FakeUserAccessRight = {
          name: `${u.name}/access-rights/${ulidish()}`,
          user: u.name,
          accessRight: ar,
          activateTime: t.activate,
          expireTime: t.expire,
        };
        this.userAccessRights.set(uar.name, uar);
        this.outdate(u);
        return this.uarMessage(uar);
      },
      ListUserAccessRights: (r) => {
        const u = this.mustUser(String(r.parent));
        if (r.filter) throw new Fault(grpc.status.INVALID_ARGUMENT, 'the fake supports no user access right filter');
        const all = this.accessRightsOf(u.name).sort((a, b) => cmp(a.name, b.name));
        const { items, next } = keysetPage(all, (x) => x.name, r, 'uar');
        return { user_access_rights: items.map((x) => this.uarMessage(x)), next_page_token: next };
      },
      UpdateUserAccessRight: (r) => {
        const body = (r.user_access_right ?? {}) as Partial<PbUserAccessRight>;
        const uar = this.userAccessRights.get(String(body.name));
        if (!uar) throw new Fault(grpc.status.NOT_FOUND, `user access right ${String(body.name)} not found`);
        let { activateTime, expireTime } = uar;
        for (const p of maskPaths(r)) {
          if (p === 'activate_time') activateTime = msOf(body.activate_time);
          else if (p === 'expire_time') expireTime = msOf(body.expire_time);
          else throw new Fault(grpc.status.INVALID_ARGUMENT, `field ${p} cannot be updated`);
        }
        this.userTimes(activateTime === null ? null : new Date(activateTime).toISOString(), expireTime === null ? null : new Date(expireTime).toISOString());
        if (activateTime !== uar.activateTime || expireTime !== uar.expireTime) {
          Object.assign(uar, { activateTime, expireTime });
          this.outdate(this.mustUser(uar.user));
        }
        return this.uarMessage(uar);
      },
      DeleteUserAccessRight: (r) => {
        const uar = this.userAccessRights.get(String(r.name));
        if (!uar) throw new Fault(grpc.status.NOT_FOUND, `user access right ${String(r.name)} not found`);
        this.userAccessRights.delete(uar.name);
        this.outdate(this.mustUser(uar.user));
        return {};
      },
      AssignCardKey: (r) => {
        const u = this.userOfKey(String(r.name), 'card_key');
        const k = u.keys.card_key;
        if (k.state !== 'NOT_ASSIGNED') throw new Fault(grpc.status.FAILED_PRECONDITION, 'the user already has a card key');
        if (!/^[0-9A-Fa-f]{8,20}$/.test(String(r.uid ?? ''))) throw new Fault(grpc.status.INVALID_ARGUMENT, 'uid must be the hexadecimal UID of the card');
        Object.assign(k, { uid: String(r.uid).toUpperCase(), state: 'PENDING', outdated: false, updatedAt: null, learned: new Set() });
        return this.userMessage(u).card_key;
      },
      CancelCardKey: (r) => {
        const u = this.userOfKey(String(r.name), 'card_key');
        this.cancel(u, 'card_key');
        return this.userMessage(u).card_key;
      },
      EncodeCardKey: (r) => {
        const u = this.userOfKey(String(r.name), 'card_key');
        const k = u.keys.card_key;
        if (k.state === 'NOT_ASSIGNED') throw new Fault(grpc.status.FAILED_PRECONDITION, 'the user has no card key to encode');
        const device = r.encoder || r.electronic_lock || r.controller;
        if (!device) throw new Fault(grpc.status.INVALID_ARGUMENT, 'one of encoder, electronic_lock or controller is required');
        const op: FakeOperation = {
          name: `${this.installation}/operations/${ulidish()}`,
          done: false,
          complete: () => {
            op.done = true;
            const cur = this.users.get(u.name);
            if (!cur || cur.keys.card_key.state === 'NOT_ASSIGNED') {
              op.error = { code: grpc.status.FAILED_PRECONDITION, message: 'the card key was cancelled before it was encoded' };
              return;
            }
            cur.keys.card_key.state = 'ACTIVE';
            this.updateKey(cur, cur.keys.card_key);
          },
        };
        this.operations.set(op.name, op);
        return operationMessage(op);
      },
      CancelAppKey: (r) => {
        const u = this.userOfKey(String(r.name), 'app_key');
        this.cancel(u, 'app_key');
        return this.userMessage(u).app_key;
      },
      CancelWalletKey: (r) => {
        const u = this.userOfKey(String(r.name), 'wallet_key');
        this.cancel(u, 'wallet_key');
        return { wallet_key: this.userMessage(u).wallet_key };
      },
      CancelPasscode: (r) => {
        const u = this.userOfKey(String(r.name), 'passcode');
        this.cancel(u, 'passcode');
        return { passcode: this.userMessage(u).passcode };
      },
      CancelElectronicKey: (r) => {
        const u = this.userOfKey(String(r.name), 'electronic_key');
        this.cancel(u, 'electronic_key');
        return { electronic_key: this.userMessage(u).electronic_key };
      },
    };
  }

  private cancel(u: FakeUser, kind: FakeKeyKind): void {
    const k = u.keys[kind];
    if (k.state === 'NOT_ASSIGNED') throw new Fault(grpc.status.FAILED_PRECONDITION, `the user has no ${kind} to cancel`);
    Object.assign(k, { state: 'NOT_ASSIGNED', uid: '', deviceId: '', outdated: false, updatedAt: null, learned: new Set() });
  }

  private accessRightService(): Record<string, Handler> {
    return {
      GetAccessRight: (r) => {
        const ar = this.accessRights.get(String(r.name));
        if (!ar) throw new Fault(grpc.status.NOT_FOUND, `access right ${String(r.name)} not found`);
        return ar;
      },
      ListAccessRights: (r) => {
        if (r.parent !== this.installation) throw new Fault(grpc.status.PERMISSION_DENIED, `no access to ${String(r.parent)}`);
        const all = [...this.accessRights.values()].sort((a, b) => cmp(a.name, b.name));
        const { items, next } = keysetPage(all, (x) => x.name, r, 'ar');
        return { access_rights: items, next_page_token: next };
      },
    };
  }

  /** ListEvents: `filter` may be empty or `create_time >= "<RFC 3339>"` (or `>`); ordered by create_time. */
  private listEvents(r: Record<string, unknown>): unknown {
    if (r.parent !== this.installation) throw new Fault(grpc.status.PERMISSION_DENIED, `no access to ${String(r.parent)}`);
    const filter = String(r.filter ?? '').trim();
    let keep: (e: FakeEvent) => boolean = () => true;
    if (filter) {
      const m = /^create_time\s*(>=|>)\s*"([^"]+)"$/.exec(filter);
      const at = m ? Date.parse(m[2]) : NaN;
      if (!m || Number.isNaN(at)) throw new Fault(grpc.status.INVALID_ARGUMENT, `unsupported filter: ${filter}`);
      keep = m[1] === '>=' ? (e) => e.createTime >= at : (e) => e.createTime > at;
    }
    const order = String(r.order_by ?? '').trim();
    if (order && !/^create_time(\s+asc)?$/i.test(order)) throw new Fault(grpc.status.INVALID_ARGUMENT, `field ${order} is not orderable`);
    const all = this.events.filter(keep);
    const { items, next } = keysetPage(all, (e) => e.name, r, `events:${filter}`);
    return { events: items.map((e) => this.eventMessage(e)), next_page_token: next };
  }

  private userTimes(activate: string | null, expire: string | null): { activate: number | null; expire: number | null } {
    const a = activate === null ? null : Date.parse(activate);
    const e = expire === null ? null : Date.parse(expire);
    if (a !== null && e !== null && e <= a) throw new Fault(grpc.status.INVALID_ARGUMENT, 'expire_time must be after activate_time');
    return { activate: a, expire: e };
  }

  // ---------------------------------------------------------------- OAuth2 token endpoint

  private tokenEndpoint(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        res.end(JSON.stringify(body));
      };
      if (req.method !== 'POST' || req.url !== '/oauth2/token') return send(404, { error: 'not_found' });
      if (!/^application\/x-www-form-urlencoded/i.test(req.headers['content-type'] ?? '')) return send(400, { error: 'invalid_request' });
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      let id = form.get('client_id');
      let secret = form.get('client_secret');
      const basic = /^Basic\s+(.+)$/i.exec(req.headers.authorization ?? '');
      if (basic) {
        const [u, p] = Buffer.from(basic[1], 'base64').toString('utf8').split(':');
        id = decodeURIComponent(u ?? '');
        secret = decodeURIComponent(p ?? '');
      }
      if (form.get('grant_type') !== 'client_credentials') return send(400, { error: 'unsupported_grant_type' });
      if (id !== this.clientId || !secret || !safeEqual(secret, this.clientSecret)) return send(401, { error: 'invalid_client' });
      const scopes = (form.get('scope') ?? '').split(/\s+/);
      if (!scopes.includes(NEBULA_SCOPE)) return send(400, { error: 'invalid_scope', error_description: `request the ${NEBULA_SCOPE} scope` });
      const token = randomBytes(24).toString('base64url');
      this.tokens.set(token, this.now() + this.tokenTtlMs);
      this.tokensIssued++;
      send(200, { access_token: token, token_type: 'bearer', expires_in: Math.floor(this.tokenTtlMs / 1000), scope: scopes.join(' ') });
    });
  }
}

// ---------------------------------------------------------------- helpers

function keyName(userName: string, kind: FakeKeyKind): string {
  return `${userName}/${KEY_SEGMENT[kind]}`;
}

function displayName(u: FakeUser): string {
  return [u.givenName, u.familyName].filter((x) => x).join(' ');
}

function operationMessage(op: FakeOperation): unknown {
  if (!op.done) return { name: op.name, done: false };
  if (op.error) return { name: op.name, done: true, error: { code: op.error.code, message: op.error.message, details: [] } };
  return { name: op.name, done: true, response: { type_url: 'type.googleapis.com/salto.nebula.user.v1.EncodeCardKeyResponse', value: Buffer.alloc(0) } };
}

function maskPaths(r: Record<string, unknown>): string[] {
  const paths = ((r.update_mask ?? {}) as { paths?: string[] }).paths ?? [];
  if (paths.length === 0) throw new Fault(grpc.status.INVALID_ARGUMENT, 'update_mask is required');
  return paths;
}

function msOf(t: PbTimestamp | null | undefined): number | null {
  const iso = fromTimestamp(t);
  return iso === null ? null : Date.parse(iso);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Page tokens carry the last name returned (keyset paging: inserts between pages lose nothing). */
function keysetPage<T>(all: T[], key: (x: T) => string, r: Record<string, unknown>, scope: string): { items: T[]; next: string } {
  const size = Number(r.page_size ?? 0);
  if (size < 0) throw new Fault(grpc.status.INVALID_ARGUMENT, 'page_size must not be negative');
  const pageSize = size === 0 ? 50 : Math.min(size, 1000);
  let after: string | null = null;
  const token = String(r.page_token ?? '');
  if (token) {
    try {
      const t = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { s: string; a: string };
      if (t.s !== scope || typeof t.a !== 'string') throw new Error('scope');
      after = t.a;
    } catch {
      throw new Fault(grpc.status.INVALID_ARGUMENT, 'invalid page_token');
    }
  }
  const start = after === null ? 0 : all.findIndex((x) => key(x) > after);
  const from = start < 0 ? all.length : start;
  const items = all.slice(from, from + pageSize);
  const more = from + pageSize < all.length;
  return { items, next: more ? Buffer.from(JSON.stringify({ s: scope, a: key(items[items.length - 1]) })).toString('base64url') : '' };
}

let idSeq = 0;
/** Sortable random ids, like the ULIDs Nebula generates. */
function ulidish(): string {
  return `01${Date.now().toString(36).toUpperCase().padStart(10, '0')}${String(++idSeq).padStart(6, '0')}${randomBytes(3).toString('hex').toUpperCase()}`;
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export async function startFakeNebula(opts: FakeNebulaOptions = {}): Promise<FakeNebula> {
  const f = new FakeNebula(opts);
  await f.start();
  return f;
}
