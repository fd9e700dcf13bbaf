import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EntraGraph, isResyncRequired, type GraphPage } from '../../../src/sources/entra/graph.js';
import { backoffDelay, parseRetryAfter } from '../../../src/sources/entra/retry.js';
import { LockstepError } from '../../../src/domain/errors.js';

describe('Retry-After and backoff', () => {
  it('reads delta-seconds, decimal seconds and HTTP dates', () => {
    expect(parseRetryAfter('120')).toBe(120_000);
    expect(parseRetryAfter('1.5')).toBe(1500);
    expect(parseRetryAfter(' 0.25 ')).toBe(250);
    expect(parseRetryAfter('Sun, 22 Nov 2026 03:00:10 GMT', Date.parse('Sun, 22 Nov 2026 03:00:00 GMT'))).toBe(10_000);
    expect(parseRetryAfter('Sun, 22 Nov 2026 03:00:00 GMT', Date.parse('Sun, 22 Nov 2026 04:00:00 GMT'))).toBe(0);
    expect(parseRetryAfter('soon')).toBeNull();
    expect(parseRetryAfter('-3')).toBeNull();
    expect(parseRetryAfter(null)).toBeNull();
  });

  it('doubles the backoff per attempt up to the ceiling, with jitter in the upper half', () => {
    const p = { backoffBaseMs: 1000, backoffMaxMs: 5000 };
    expect([1, 2, 3, 4, 5].map((n) => backoffDelay(n, { ...p, random: () => 0 }))).toEqual([500, 1000, 2000, 2500, 2500]);
    expect(backoffDelay(2, { ...p, random: () => 0.999999 })).toBe(2000);
  });
});

/** A local stand-in for Graph under a path prefix, the way a benchmark would run one. */
describe('EntraGraph against a local Graph', () => {
  let server: Server;
  let base: string;
  let seen: Array<{ url: string; auth: string | undefined }>;
  let handler: (req: IncomingMessage, res: ServerResponse) => void;
  let sleeps: number[];

  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };

  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push({ url: req.url!, auth: req.headers.authorization });
      handler(req, res);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graph/v1.0`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
  beforeEach(() => {
    seen = [];
    sleeps = [];
  });
  const client = (maxAttempts = 4) =>
    new EntraGraph({ baseUrl: base, credential: null, maxAttempts, sleep: async (ms) => void sleeps.push(ms), random: () => 0 });

  it('follows absolute links under the base URL and retries a 503 after its Retry-After', async () => {
    let failed = false;
    handler = (req, res) => {
      const u = new URL(req.url!, 'http://x');
      if (u.searchParams.get('$skiptoken') === 'p2') {
        if (!failed) {
          failed = true;
          return json(res, 503, { error: { code: 'serviceNotAvailable', message: 'busy' } }, { 'Retry-After': '0.25' });
        }
        return json(res, 200, { '@odata.deltaLink': `${base}/users/delta?$deltatoken=d1`, value: [{ id: 'b' }] });
      }
      json(res, 200, { '@odata.nextLink': `${base}/users/delta?$skiptoken=p2`, value: [{ id: 'a' }] });
    };
    const g = client();
    const p1 = await g.get<GraphPage<{ id: string }>>('/users/delta?$select=id,userPrincipalName');
    const p2 = await g.get<GraphPage<{ id: string }>>(p1['@odata.nextLink']!);
    expect([...p1.value!, ...p2.value!].map((v) => v.id)).toEqual(['a', 'b']);
    expect(p2['@odata.deltaLink']).toBe(`${base}/users/delta?$deltatoken=d1`);
    expect(seen.map((s) => s.url)).toEqual([
      '/graph/v1.0/users/delta?$select=id,userPrincipalName',
      '/graph/v1.0/users/delta?$skiptoken=p2',
      '/graph/v1.0/users/delta?$skiptoken=p2',
    ]);
    expect(seen.every((s) => s.auth === undefined)).toBe(true);
    expect(sleeps).toEqual([250]);
    expect(g.stats).toEqual({ requests: 3, retries: 1 });
  });

  it('turns Graph errors into LockstepErrors the caller can act on', async () => {
    handler = (req, res) => {
      if (req.url!.includes('forbidden'))
        return json(res, 403, { error: { code: 'Authorization_RequestDenied', message: 'Insufficient privileges to complete the operation.' } });
      if (req.url!.includes('gone')) return json(res, 410, { error: { code: 'resyncRequired', message: 'Resync required.' } });
      if (req.url!.includes('expired')) return json(res, 400, { error: { code: 'syncStateNotFound', message: 'The sync state generation is not found.' } });
      json(res, 404, { error: { code: 'Request_ResourceNotFound', message: 'Resource does not exist.' } });
    };
    const g = client();
    const forbidden = (await g.get('/forbidden').catch((e: unknown) => e)) as LockstepError;
    expect(forbidden).toBeInstanceOf(LockstepError);
    expect(forbidden).toMatchObject({ code: 'auth', status: 403, retryable: false });
    expect(forbidden.message).toMatch(/Authorization_RequestDenied.*application permissions/);
    const gone = await g.get('/users/delta?$deltatoken=gone').catch((e: unknown) => e);
    const expired = await g.get('/users/delta?$deltatoken=expired').catch((e: unknown) => e);
    expect(isResyncRequired(gone)).toBe(true);
    expect(isResyncRequired(expired)).toBe(true);
    expect(isResyncRequired(forbidden)).toBe(false);
    await expect(g.get('/users/nobody')).rejects.toMatchObject({ code: 'not_found' });
    await expect(g.get('https://evil.example.com/v1.0/users/delta?$skiptoken=x')).rejects.toMatchObject({ code: 'unavailable' });
    expect(sleeps).toEqual([]);
  });

  it('retries a dropped connection with backoff, then gives up as unavailable', async () => {
    handler = (req) => req.socket.destroy();
    await expect(client(3).get('/users/delta')).rejects.toMatchObject({ code: 'unavailable', retryable: true });
    expect(seen).toHaveLength(3);
    expect(sleeps).toEqual([500, 1000]);
  });
});
