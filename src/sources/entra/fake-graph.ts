import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for the slice of Microsoft Graph the Entra source reads: /users/delta,
 * /groups/delta (with members), GET /users/{id}. Real HTTP on 127.0.0.1, for tests, demos and
 * benchmarks (`graphBaseUrl: <fake.url>`, `auth: none`). It keeps a change log, so delta
 * rounds return what changed since the token, pages results (large groups span pages), and
 * can expire tokens (410) or throttle (429 with Retry-After) on request.
 */

export type FakeUser = { id: string; manager?: string | null } & Record<string, unknown>;

type LogEntry =
  | { seq: number; kind: 'user' | 'group'; id: string }
  | { seq: number; kind: 'member'; group: string; member: string; type: 'user' | 'group'; removed: boolean };

interface Round {
  items: unknown[];
  seq: number;
  collection: 'users' | 'groups';
}

export interface FakeGraphOptions {
  /** Objects per page, and members per group object within a page. Default 100. */
  pageSize?: number;
  port?: number;
}

export class FakeGraph {
  readonly url: string;
  /** Requests served, throttled ones included. */
  requests = 0;
  private seq = 0;
  private readonly users = new Map<string, FakeUser>();
  private readonly removed = new Map<string, 'changed' | 'deleted'>();
  private readonly groups = new Map<string, { displayName: string; users: Set<string>; groups: Set<string> }>();
  private readonly deletedGroups = new Set<string>();
  private readonly log: LogEntry[] = [];
  private readonly rounds = new Map<string, Round>();
  private roundSeq = 0;
  private minValidSeq = 0;
  private throttle: { count: number; retryAfter: string } | null = null;
  private readonly servicePrincipals = new Map<
    string,
    {
      displayName: string;
      appRoles: Array<{ id: string; value: string; displayName: string }>;
      assignments: Map<string, { id: string; appRoleId: string; principalId: string; principalType: 'User' | 'Group' }>;
    }
  >();
  private assignmentSeq = 0;

  private constructor(
    private readonly server: Server,
    port: number,
    private readonly pageSize: number,
  ) {
    this.url = `http://127.0.0.1:${port}/v1.0`;
  }

  static async start(opts: FakeGraphOptions = {}): Promise<FakeGraph> {
    let self: FakeGraph | null = null;
    const server = createServer((req, res) => self!.handle(req, res));
    await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
    self = new FakeGraph(server, (server.address() as AddressInfo).port, opts.pageSize ?? 100);
    return self;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Creates or replaces a user (all its properties); a removed user is restored. */
  upsertUser(u: FakeUser): void {
    this.users.set(u.id, { ...u });
    this.removed.delete(u.id);
    this.log.push({ seq: ++this.seq, kind: 'user', id: u.id });
  }

  /** `changed`: soft delete (restorable); `deleted`: permanent. */
  removeUser(id: string, reason: 'changed' | 'deleted' = 'changed'): void {
    this.users.delete(id);
    this.removed.set(id, reason);
    this.log.push({ seq: ++this.seq, kind: 'user', id });
    for (const [gid, g] of this.groups) if (g.users.has(id)) this.removeMember(gid, id);
  }

  upsertGroup(id: string, displayName: string): void {
    const g = this.groups.get(id);
    if (g) g.displayName = displayName;
    else this.groups.set(id, { displayName, users: new Set(), groups: new Set() });
    this.deletedGroups.delete(id);
    this.log.push({ seq: ++this.seq, kind: 'group', id });
  }

  removeGroup(id: string): void {
    this.groups.delete(id);
    this.deletedGroups.add(id);
    this.log.push({ seq: ++this.seq, kind: 'group', id });
  }

  addMember(group: string, member: string, type: 'user' | 'group' = 'user'): void {
    const g = this.groups.get(group);
    if (!g) throw new Error(`no group ${group}`);
    (type === 'user' ? g.users : g.groups).add(member);
    this.log.push({ seq: ++this.seq, kind: 'member', group, member, type, removed: false });
  }

  removeMember(group: string, member: string, type: 'user' | 'group' = 'user'): void {
    const g = this.groups.get(group);
    if (!g) return;
    (type === 'user' ? g.users : g.groups).delete(member);
    this.log.push({ seq: ++this.seq, kind: 'member', group, member, type, removed: true });
  }

  /** An enterprise application (service principal) with app roles, as GET /servicePrincipals/{id} returns it. */
  upsertServicePrincipal(id: string, displayName: string, appRoles: Array<{ id: string; value: string; displayName: string }>): void {
    const cur = this.servicePrincipals.get(id);
    this.servicePrincipals.set(id, {
      displayName,
      appRoles,
      assignments: cur?.assignments ?? new Map<string, { id: string; appRoleId: string; principalId: string; principalType: 'User' | 'Group' }>(),
    });
  }

  /** Assigns an app role to a user or group; returns the assignment id. */
  assignAppRole(servicePrincipalId: string, appRoleId: string, principalId: string, principalType: 'User' | 'Group' = 'User'): string {
    const sp = this.servicePrincipals.get(servicePrincipalId);
    if (!sp) throw new Error(`fake graph: no service principal ${servicePrincipalId}`);
    const id = `assignment-${++this.assignmentSeq}`;
    sp.assignments.set(id, { id, appRoleId, principalId, principalType });
    return id;
  }

  removeAppRoleAssignment(servicePrincipalId: string, assignmentId: string): void {
    this.servicePrincipals.get(servicePrincipalId)?.assignments.delete(assignmentId);
  }

  /** Every delta and skip token issued so far is refused with 410 Gone from now on. */
  expireTokens(): void {
    this.minValidSeq = this.seq + 1;
    this.rounds.clear();
  }

  /** The next `count` requests get 429 with this Retry-After (seconds, decimals allowed). */
  throttleNext(count: number, retryAfter: string): void {
    this.throttle = { count, retryAfter };
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this.requests++;
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    if (this.throttle && this.throttle.count > 0) {
      this.throttle.count--;
      return send(429, { error: { code: 'TooManyRequests', message: 'Please retry again later.' } }, { 'Retry-After': this.throttle.retryAfter });
    }
    const u = new URL(req.url ?? '/', 'http://fake');
    const path = u.pathname.replace(/^\/v1\.0/, '');
    const skip = u.searchParams.get('$skiptoken');
    const delta = u.searchParams.get('$deltatoken');
    const collection = path === '/users/delta' ? 'users' : path === '/groups/delta' ? 'groups' : null;
    if (req.method === 'GET' && collection) {
      if (skip !== null) {
        const [rid, page] = skip.split('.');
        const r = this.rounds.get(rid ?? '');
        if (!r || r.collection !== collection) return send(410, { error: { code: 'resyncRequired', message: 'Resync required.' } });
        return send(200, this.page(r, rid, Number(page)));
      }
      let since: number | null = null;
      if (delta !== null) {
        since = Number(delta);
        if (!Number.isFinite(since) || since < this.minValidSeq) {
          return send(410, { error: { code: 'resyncRequired', message: 'Resync required.' } }, { Location: `${this.url}/${collection}/delta?$deltatoken=` });
        }
      }
      const filterIds = [...(u.searchParams.get('$filter') ?? '').matchAll(/id eq '([^']+)'/g)].map((m) => m[1]);
      const items = collection === 'users' ? this.userItems(since) : this.groupItems(since, filterIds);
      const rid = String(++this.roundSeq);
      const round: Round = { items, seq: this.seq, collection };
      this.rounds.set(rid, round);
      return send(200, this.page(round, rid, 0));
    }
    const sp = /^\/servicePrincipals\/([^/]+)(\/appRoleAssignedTo)?$/.exec(path);
    if (req.method === 'GET' && sp) {
      const id = decodeURIComponent(sp[1]);
      const found = this.servicePrincipals.get(id);
      if (!found)
        return send(404, {
          error: {
            code: 'Request_ResourceNotFound',
            message: `Resource '${id}' does not exist or one of its queried reference-property objects are not present.`,
          },
        });
      if (!sp[2]) {
        return send(200, {
          '@odata.context': `${this.url}/$metadata#servicePrincipals/$entity`,
          id,
          appId: id,
          displayName: found.displayName,
          appRoles: found.appRoles.map((r) => ({
            allowedMemberTypes: ['User'],
            description: r.displayName,
            displayName: r.displayName,
            id: r.id,
            isEnabled: true,
            origin: 'Application',
            value: r.value,
          })),
        });
      }
      return send(200, {
        '@odata.context': `${this.url}/$metadata#servicePrincipals('${id}')/appRoleAssignedTo`,
        value: [...found.assignments.values()].map((a) => ({
          id: a.id,
          deletedDateTime: null,
          appRoleId: a.appRoleId,
          createdDateTime: '2026-01-01T00:00:00Z',
          principalDisplayName: this.users.get(a.principalId)?.displayName ?? this.groups.get(a.principalId)?.displayName ?? null,
          principalId: a.principalId,
          principalType: a.principalType,
          resourceDisplayName: found.displayName,
          resourceId: id,
        })),
      });
    }
    const one = /^\/users\/([^/]+)$/.exec(path);
    if (req.method === 'GET' && one) {
      const user = this.users.get(decodeURIComponent(one[1]));
      if (!user) return send(404, { error: { code: 'Request_ResourceNotFound', message: 'Resource does not exist.' } });
      const { manager, ...props } = user;
      const m = manager ? this.users.get(manager) : undefined;
      return send(200, {
        ...props,
        ...(u.searchParams.get('$expand')?.startsWith('manager') && m
          ? { manager: { '@odata.type': '#microsoft.graph.user', id: m.id, userPrincipalName: m.userPrincipalName } }
          : {}),
      });
    }
    send(404, { error: { code: 'BadRequest', message: `Resource not found for the segment '${path}'.` } });
  }

  private page(r: Round, rid: string, page: number) {
    const slice = r.items.slice(page * this.pageSize, (page + 1) * this.pageSize);
    const more = (page + 1) * this.pageSize < r.items.length;
    return {
      '@odata.context': `${this.url}/$metadata#${r.collection}`,
      ...(more
        ? { '@odata.nextLink': `${this.url}/${r.collection}/delta?$skiptoken=${rid}.${page + 1}` }
        : { '@odata.deltaLink': `${this.url}/${r.collection}/delta?$deltatoken=${r.seq}` }),
      value: slice,
    };
  }

  private userView(u: FakeUser) {
    const { manager, ...props } = u;
    return { ...props, ...(manager ? { 'manager@delta': [{ '@odata.type': '#microsoft.graph.user', id: manager }] } : {}) };
  }

  private userItems(since: number | null): unknown[] {
    if (since === null) return [...this.users.values()].map((u) => this.userView(u));
    const ids = new Set(this.log.filter((e) => e.seq > since && e.kind === 'user').map((e) => (e as { id: string }).id));
    return [...ids].map((id) => {
      const u = this.users.get(id);
      return u ? this.userView(u) : { id, '@removed': { reason: this.removed.get(id) ?? 'deleted' } };
    });
  }

  private groupItems(since: number | null, filterIds: string[]): unknown[] {
    const wanted = (id: string) => filterIds.length === 0 || filterIds.includes(id);
    const ref = (type: 'user' | 'group', id: string, removed = false) => ({
      '@odata.type': `#microsoft.graph.${type}`,
      id,
      ...(removed ? { '@removed': { reason: 'deleted' } } : {}),
    });
    const objects: Array<{ id: string; members: unknown[] | null }> = [];
    if (since === null) {
      for (const [id, g] of this.groups) {
        if (!wanted(id)) continue;
        const members = [...[...g.users].map((m) => ref('user', m)), ...[...g.groups].map((m) => ref('group', m))];
        objects.push({ id, members: members.length ? members : null });
      }
    } else {
      const changed = new Map<string, Map<string, unknown>>();
      for (const e of this.log) {
        if (e.seq <= since) continue;
        const gid = e.kind === 'member' ? e.group : e.id;
        if (e.kind === 'user' || !wanted(gid)) continue;
        const m = changed.get(gid) ?? new Map<string, unknown>();
        if (e.kind === 'member') m.set(`${e.type}:${e.member}`, ref(e.type, e.member, e.removed));
        changed.set(gid, m);
      }
      for (const [id, m] of changed) objects.push({ id, members: m.size ? [...m.values()] : null });
    }
    const out: unknown[] = [];
    for (const { id, members } of objects) {
      const g = this.groups.get(id);
      if (!g) {
        if (this.deletedGroups.has(id)) out.push({ id, '@removed': { reason: 'deleted' } });
        continue;
      }
      const head = { displayName: g.displayName, id };
      if (!members) {
        out.push(head);
        continue;
      }
      // Like Graph, a big membership list comes as the same group several times.
      for (let i = 0; i < members.length; i += this.pageSize) out.push({ ...head, 'members@delta': members.slice(i, i + this.pageSize) });
    }
    return out;
  }
}
