import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sealAudit, type Db } from '../../src/store/index.js';
import { createApp } from '../../src/api/index.js';
import { createScimRouter } from '../../src/sources/scim/index.js';
import { scimConfigSchema } from '../../src/sources/scim/config.js';
import { createTestEngine, type TestEngine } from './engine.js';
import { MAPPINGS } from '../integration/reconcile/mappings.js';

export const ADMIN_TOKEN = 'admin-token-0123456789abcdef';
export const SCIM_TOKEN = 'scim-token-0123456789abcdef';

/**
 * Everything a request could have changed, as one string: the SCIM resources, identities,
 * runs, incidents and the audit log (entries, pending entries and head). A rejected request
 * must leave it as it was.
 */
export async function storeDigest(db: Db): Promise<string> {
  // audit entries are written pending and sealed into the chain in the background: seal first
  await sealAudit(db);
  const tables = ['scim_users', 'scim_groups', 'scim_group_members', 'identities', 'runs', 'incidents', 'audit_log', 'audit_pending', 'audit_head'];
  // one round trip: the fuzz test takes this twice per request
  const cols = tables.map((t) => `(SELECT count(*)::text || ':' || coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') FROM ${t} x) AS ${t}`);
  const { rows } = await db.query<Record<string, string>>(`SELECT ${cols.join(', ')}`);
  return tables.map((t) => `${t}:${rows[0][t]}`).join(' ');
}

export interface HostileApp {
  engine: TestEngine;
  base: string;
  /** One raw request; `body` is sent as it is (string or bytes). */
  send(
    method: string,
    path: string,
    opts?: { body?: string | Uint8Array; headers?: Record<string, string> },
  ): Promise<{ status: number; text: string; json: any }>;
  close(): Promise<void>;
}

/**
 * The admin API and the SCIM endpoint in one express app on loopback, over a real engine
 * (PostgreSQL and a simulator, test/helpers/engine.ts), as `serve` composes them.
 */
export async function startHostileApp(opts: { syncSource?: (name: string) => Promise<never> } = {}): Promise<HostileApp> {
  const engine = await createTestEngine('postgres', MAPPINGS);
  const scim = createScimRouter({
    db: engine.ctx.db,
    config: scimConfigSchema.parse({ tokens: [SCIM_TOKEN] }),
    onChange: () => undefined,
    env: {},
  });
  const app = createApp({ ctx: engine.ctx, adminTokens: [ADMIN_TOKEN], bodyLimitBytes: 1 << 20, scim, syncSource: opts.syncSource });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    engine,
    base,
    async send(method, path, o = {}) {
      const admin = path.startsWith('/api/');
      const res = await fetch(`${base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${admin ? ADMIN_TOKEN : SCIM_TOKEN}`,
          ...(o.body !== undefined ? { 'content-type': admin ? 'application/json' : 'application/scim+json' } : {}),
          ...o.headers,
        },
        body: o.body,
      });
      const text = await res.text();
      let json: unknown = null;
      try {
        json = JSON.parse(text);
      } catch {
        json = null;
      }
      return { status: res.status, text, json };
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await engine.close();
    },
  };
}
