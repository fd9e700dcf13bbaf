/**
 * bench:scim's peer: a SCIM 2.0 server built the way SCIMMY's documentation shows it
 * (SCIMMY resources + scimmy-routers on express), with an in-memory store: users by id, an
 * index by userName (case-insensitive, as RFC 7643 makes it) for the `userName eq` lookup
 * that provisioning clients send before every create, uniqueness of userName enforced.
 * Filters the index cannot answer fall back to SCIMMY's own Filter.match over every user.
 */
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import express from 'express';
import SCIMMY from 'scimmy';
import SCIMMYRouters from 'scimmy-routers';
import { LockstepError } from '../../../src/domain/errors.js';
import { procStats, serveIpc } from '../scim-ipc.js';
import { scimUser } from '../scim-users.js';
import type { SeededUser } from '../scim-server.js';

export type PeerRequest = { op: 'start'; token: string } | { op: 'seed'; from: number; to: number } | { op: 'stats' } | { op: 'close' };

type StoredUser = Record<string, unknown> & { id: string; userName: string; meta: { created: string; lastModified: string } };

const users = new Map<string, StoredUser>();
const byUserName = new Map<string, string>();

/** The filter SCIMMY parsed, when it is a single `userName eq "..."` (the lookup the index answers). */
function userNameEq(filter: unknown): string | null {
  if (!Array.isArray(filter) || filter.length !== 1) return null;
  const expr = filter[0] as Record<string, unknown>;
  const keys = Object.keys(expr);
  if (keys.length !== 1 || keys[0].toLowerCase() !== 'username') return null;
  const cmp = expr[keys[0]];
  return Array.isArray(cmp) && cmp.length === 2 && String(cmp[0]).toLowerCase() === 'eq' && typeof cmp[1] === 'string' ? cmp[1] : null;
}

/** SCIMMY's typings ask for a scimType string; 404 has none (a falsy one is left out of the body). */
const notFound = (id: string | undefined) => new SCIMMY.Types.Error(404, '', `Resource ${id} not found`);

function declare(): void {
  SCIMMY.Resources.declare(
    SCIMMY.Resources.User.extend(SCIMMY.Schemas.EnterpriseUser, false)
      .ingress((resource, instance) => {
        const data = JSON.parse(JSON.stringify(instance)) as Record<string, unknown>;
        const userName = String(data.userName);
        const key = userName.toLowerCase();
        const now = new Date().toISOString();
        const prev = resource.id ? users.get(resource.id) : undefined;
        if (resource.id && !prev) throw notFound(resource.id);
        const holder = byUserName.get(key);
        if (holder && holder !== resource.id) throw new SCIMMY.Types.Error(409, 'uniqueness', `userName ${userName} is already taken`);
        const id = prev?.id ?? randomUUID();
        if (prev && prev.userName.toLowerCase() !== key) byUserName.delete(prev.userName.toLowerCase());
        const stored: StoredUser = { ...data, id, userName, meta: { created: prev?.meta.created ?? now, lastModified: now } };
        users.set(id, stored);
        byUserName.set(key, id);
        return stored;
      })
      .egress((resource) => {
        if (resource.id) {
          const u = users.get(resource.id);
          if (!u) throw notFound(resource.id);
          return u;
        }
        const name = userNameEq(resource.filter);
        if (name !== null) {
          const id = byUserName.get(name.toLowerCase());
          return id ? [users.get(id)!] : [];
        }
        const all = [...users.values()];
        return resource.filter ? (resource.filter.match(all) as StoredUser[]) : all;
      })
      .degress((resource) => {
        const u = resource.id ? users.get(resource.id) : undefined;
        if (!u) throw notFound(resource.id);
        users.delete(u.id);
        byUserName.delete(u.userName.toLowerCase());
      }),
  );
}

let server: Server | null = null;

async function start(token: string): Promise<{ url: string }> {
  declare();
  const app = express();
  app.disable('x-powered-by');
  app.use(
    '/scim/v2',
    new SCIMMYRouters({
      type: 'bearer',
      handler: (req) => {
        // scimmy-routers answers 401 for whatever this throws
        if (req.header('authorization') !== `Bearer ${token}`) throw new LockstepError('auth', 'the bearer token is not valid');
        return 'bench';
      },
    }),
  );
  server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
  server.keepAliveTimeout = 60_000;
  const addr = server.address();
  return { url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/scim/v2` };
}

/** Through SCIMMY's own write path, as a POST would (validation included). */
async function seed(from: number, to: number): Promise<SeededUser[]> {
  const out: SeededUser[] = [];
  for (let i = from; i < to; i++) {
    const body = scimUser(i);
    const u = (await new SCIMMY.Resources.User().write(body)) as unknown as { id: string };
    out.push({ id: u.id, userName: body.userName });
  }
  return out;
}

serveIpc<PeerRequest>(
  async (req) => {
    switch (req.op) {
      case 'start':
        return start(req.token);
      case 'seed':
        return seed(req.from, req.to);
      case 'stats':
        return procStats();
      case 'close':
        return null;
    }
  },
  async () => {
    if (!server) return;
    const closed = new Promise<void>((r) => server!.close(() => r()));
    server.closeAllConnections();
    await closed;
  },
);
