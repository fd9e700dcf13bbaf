import express from 'express';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createTestStore, type StoreKind, type TestStore } from '../../helpers/db.js';
import { createScimRouter } from '../../../src/sources/scim/index.js';
import { scimConfigSchema, type ScimConfig } from '../../../src/sources/scim/config.js';

export const TOKEN = 'test-token-0123456789abcdef';
export const SCIM = 'application/scim+json';

export interface ChangeCall {
  ids: string[];
  leaver: boolean;
  pendingAt?: number;
}

/** A real express 5 app with the SCIM router at /scim/v2 on 127.0.0.1:0, over a fresh store. */
export interface ScimHarness {
  store: TestStore;
  base: string;
  calls: ChangeCall[];
  /** fetch relative to the SCIM base with the bearer token and SCIM content type. */
  req(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; headers: Headers; body: any }>;
  close(): Promise<void>;
}

/** `markPending`: as serve runs it; `failOnChange`: onChange throws after the write (a Redis or a process gone). */
export async function startScim(
  kind: StoreKind,
  overrides: Partial<ScimConfig> = {},
  env: NodeJS.ProcessEnv = {},
  opts: { markPending?: boolean; failOnChange?: boolean } = {},
): Promise<ScimHarness> {
  const store = await createTestStore(kind);
  const calls: ChangeCall[] = [];
  const config = scimConfigSchema.parse({ tokens: [TOKEN], ...overrides });
  const app = express();
  const onChange = (ids: string[], hint: { leaver: boolean; pendingAt?: number }) => {
    calls.push({ ids: [...ids], leaver: hint.leaver, ...(hint.pendingAt !== undefined ? { pendingAt: hint.pendingAt } : {}) });
    if (opts.failOnChange) throw new Error('the queue is gone');
  };
  app.use('/scim/v2', createScimRouter({ db: store.db, config, env, onChange, markPending: opts.markPending ?? false }));
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  const base = `http://127.0.0.1:${port}/scim/v2`;
  return {
    store,
    base,
    calls,
    async req(method, path, body, headers = {}) {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${TOKEN}`,
          ...(body !== undefined ? { 'content-type': SCIM } : {}),
          ...headers,
        },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await res.text();
      let parsed: unknown = undefined;
      if (text) {
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = text;
        }
      }
      return { status: res.status, headers: res.headers, body: parsed };
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await store.drop();
    },
  };
}
