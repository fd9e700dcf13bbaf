import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LockstepError } from '../../../src/domain/errors.js';
import { HttpClient, parseRetryAfter, type HttpClientOptions } from '../../../src/drivers/http.js';

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

let server: Server;
let base: string;
let handler: Handler;
let hits: { method: string; url: string; headers: IncomingMessage['headers']; body: string }[];

function listen(s: Server): Promise<number> {
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as AddressInfo).port)));
}
function closeServer(s: Server): Promise<void> {
  return new Promise((resolve) => {
    s.close(() => resolve());
    s.closeAllConnections();
  });
}

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      hits.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      handler(req, res, body);
    });
  });
  base = `http://127.0.0.1:${await listen(server)}/api`;
});
afterAll(() => closeServer(server));
beforeEach(() => {
  hits = [];
  handler = (_req, res) => json(res, 200, {});
});

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

/** A client whose waits are recorded instead of slept, so retry tests neither wait nor depend on timing. */
function client(opts: Partial<HttpClientOptions> = {}): { http: HttpClient; delays: number[] } {
  const delays: number[] = [];
  const http = new HttpClient({
    baseUrl: base,
    headers: { 'x-api-key': 'top-secret' },
    random: () => 0.5,
    sleep: async (ms) => {
      delays.push(ms);
    },
    ...opts,
  });
  return { http, delays };
}

async function failure(p: Promise<unknown>): Promise<LockstepError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(LockstepError);
  return e as LockstepError;
}

describe('HttpClient', () => {
  it('sends JSON with the default headers and query, and parses the JSON answer', async () => {
    handler = (_req, res, body) => json(res, 201, { echo: JSON.parse(body) as unknown });
    const { http } = client();
    const r = await http.post<{ echo: unknown }>('/accounts', { displayName: 'Ada' }, { query: { dryRun: true, skip: undefined } });
    expect(r).toEqual({ echo: { displayName: 'Ada' } });
    expect(hits[0]).toMatchObject({ method: 'POST', url: '/api/accounts?dryRun=true' });
    expect(hits[0].headers).toMatchObject({ 'x-api-key': 'top-secret', 'content-type': 'application/json', accept: 'application/json' });
  });

  it('resolves an empty 204 as undefined', async () => {
    handler = (_req, res) => {
      res.writeHead(204);
      res.end();
    };
    await expect(client().http.delete('accounts/1')).resolves.toBeUndefined();
  });

  it.each([
    [401, 'auth'],
    [403, 'auth'],
    [404, 'not_found'],
    [409, 'conflict'],
    [412, 'conflict'],
    [400, 'validation'],
    [422, 'validation'],
    [501, 'unavailable'],
  ])('maps %i to %s, with status and method+path but no headers', async (status, code) => {
    handler = (_req, res) => json(res, status, { message: 'the server said no' });
    const err = await failure(client({ maxAttempts: 1 }).http.get('accounts/7', { query: { token: 'query-secret' } }));
    expect(err.code).toBe(code);
    expect(err.status).toBe(status);
    expect(err.message).toContain('GET /api/accounts/7');
    expect(err.message).toContain('the server said no');
    const shown = JSON.stringify({ message: err.message, details: err.details, json: err.toJSON() });
    expect(shown).not.toContain('top-secret');
    expect(shown).not.toContain('query-secret');
  });

  it.each([
    [
      { error: { code: 'openaccess.general.invalidapplicationid', message: 'Application ID is not valid' } },
      'openaccess.general.invalidapplicationid: Application ID is not valid',
    ],
    [{ error: 'invalid_client', error_description: 'the client secret is wrong' }, 'the client secret is wrong'],
    [{ error: 'not found' }, 'not found'],
  ])('says what the server said, also when its error is an object (%j)', async (body, said) => {
    handler = (_req, res) => json(res, 400, body);
    const err = await failure(client({ maxAttempts: 1 }).http.get('accounts/7'));
    expect(err.message).toContain(said);
  });

  it('maps 429 to rate_limited with the Retry-After it was given', async () => {
    handler = (_req, res) => json(res, 429, {}, { 'retry-after': '120' });
    const err = await failure(client({ maxAttempts: 1 }).http.get('groups'));
    expect(err).toMatchObject({ code: 'rate_limited', status: 429, retryAfterMs: 120_000, retryable: true });
  });

  it('retries an idempotent request through 5xx answers', async () => {
    let n = 0;
    handler = (_req, res) => (++n < 3 ? json(res, 502, {}) : json(res, 200, { ok: true }));
    const { http, delays } = client({ maxAttempts: 3 });
    await expect(http.get('groups')).resolves.toEqual({ ok: true });
    expect(hits).toHaveLength(3);
    expect(delays).toHaveLength(2);
  });

  it('does not repeat a POST the server may have acted on (500), but does after a 503', async () => {
    handler = (_req, res) => json(res, 500, {});
    const e500 = await failure(client({ maxAttempts: 3 }).http.post('accounts', {}));
    expect(e500.code).toBe('unavailable');
    expect(hits).toHaveLength(1);

    hits = [];
    let n = 0;
    handler = (_req, res) => (++n === 1 ? json(res, 503, {}) : json(res, 201, { id: 'a1' }));
    await expect(client({ maxAttempts: 3 }).http.post('accounts', {})).resolves.toEqual({ id: 'a1' });
    expect(hits).toHaveLength(2);
  });

  it('waits at least the Retry-After of a 429, in seconds or as an HTTP-date', async () => {
    let n = 0;
    handler = (_req, res) => (++n === 1 ? json(res, 429, {}, { 'retry-after': '2' }) : json(res, 200, { ok: 1 }));
    const a = client();
    await a.http.patch('accounts/1', { state: 'suspended' });
    expect(a.delays).toHaveLength(1);
    expect(a.delays[0]).toBeGreaterThanOrEqual(2000);

    n = 0;
    const date = new Date(Date.now() + 5_000).toUTCString();
    handler = (_req, res) => (++n === 1 ? json(res, 429, {}, { 'retry-after': date }) : json(res, 200, { ok: 1 }));
    const b = client();
    await b.http.get('groups');
    expect(b.delays[0]).toBeGreaterThanOrEqual(3_000);
    expect(b.delays[0]).toBeLessThanOrEqual(5_200);
  });

  it('surfaces at once a Retry-After longer than it is willing to wait', async () => {
    handler = (_req, res) => json(res, 429, {}, { 'retry-after': '3600' });
    const { http, delays } = client({ maxRetryAfterMs: 10_000 });
    const err = await failure(http.get('groups'));
    expect(err).toMatchObject({ code: 'rate_limited', retryAfterMs: 3_600_000 });
    expect(hits).toHaveLength(1);
    expect(delays).toEqual([]);
  });

  it('backs off exponentially with jitter and reports how many attempts it made', async () => {
    handler = (_req, res) => json(res, 503, {});
    const { http, delays } = client({ maxAttempts: 4, backoffBaseMs: 100, backoffMaxMs: 10_000 });
    const err = await failure(http.get('groups'));
    expect(err).toMatchObject({ code: 'unavailable', status: 503 });
    expect(err.details).toMatchObject({ attempts: 4 });
    expect(hits).toHaveLength(4);
    // With the jitter source pinned at 0.5, each delay sits at 3/4 of 100·2^k.
    expect(delays).toEqual([75, 150, 300]);
  });

  it('caps one backoff delay', async () => {
    handler = (_req, res) => json(res, 503, {});
    const { http, delays } = client({ maxAttempts: 6, backoffBaseMs: 100, backoffMaxMs: 250 });
    await failure(http.get('groups'));
    expect(Math.max(...delays)).toBeLessThanOrEqual(250);
  });

  it('turns a server that does not answer in time into timeout', async () => {
    handler = () => undefined; // never answers
    const err = await failure(client({ timeoutMs: 50, maxAttempts: 1 }).http.get('slow'));
    expect(err).toMatchObject({ code: 'timeout', retryable: true });
    expect(err.message).toContain('GET /api/slow');
  });

  it('turns a reset connection into unavailable', async () => {
    handler = (req) => req.socket.destroy();
    const err = await failure(client({ maxAttempts: 2 }).http.get('reset'));
    expect(err.code).toBe('unavailable');
    expect(hits).toHaveLength(2);
  });

  it('turns a refused connection into unavailable, and retries even a POST since nothing was sent', async () => {
    const s = createServer();
    const port = await listen(s);
    await closeServer(s);
    const retried: string[] = [];
    const http = new HttpClient({
      baseUrl: `http://127.0.0.1:${port}`,
      maxAttempts: 2,
      sleep: async () => undefined,
      onRetry: (i) => retried.push(`${i.method} ${i.path} ${i.error.code}`),
    });
    const err = await failure(http.post('accounts', {}));
    expect(err).toMatchObject({ code: 'unavailable', retryable: true });
    expect(retried).toEqual(['POST /accounts unavailable']);
  });

  it('does not follow redirects, which would carry the API key elsewhere', async () => {
    handler = (_req, res) => {
      res.writeHead(302, { location: 'http://example.invalid/steal' });
      res.end();
    };
    const err = await failure(client().http.get('moved'));
    expect(err).toMatchObject({ code: 'validation', status: 302 });
  });

  it('follows absolute links on its own origin and refuses others', async () => {
    handler = (_req, res) => json(res, 200, { ok: true });
    const origin = new URL(base).origin;
    await expect(client().http.get(`${origin}/api/cardholders/5`)).resolves.toEqual({ ok: true });
    const err = await failure(client().http.get('https://elsewhere.example/api/cardholders/5'));
    expect(err.code).toBe('validation');
    expect(hits).toHaveLength(1);
  });

  it('refuses a base URL that is not http(s)', () => {
    expect(() => new HttpClient({ baseUrl: 'ftp://x' })).toThrow(LockstepError);
    expect(() => new HttpClient({ baseUrl: 'not a url' })).toThrow(LockstepError);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2025-03-01T12:00:00Z');
  it('reads delay-seconds, decimal seconds and HTTP-dates', () => {
    expect(parseRetryAfter('5', now)).toBe(5000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('1.5', now)).toBe(1500);
    expect(parseRetryAfter('Sat, 01 Mar 2025 12:00:30 GMT', now)).toBe(30_000);
  });
  it('takes a date already past as zero and ignores what it cannot read', () => {
    expect(parseRetryAfter('Sat, 01 Mar 2025 11:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('-3', now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter('', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});

describe('HttpClient with client certificates', () => {
  let dir: string;
  let pem: Record<'ca' | 'serverKey' | 'serverCert' | 'clientKey' | 'clientCert', string>;
  let tlsServer: Server;
  let tlsBase: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lockstep-mtls-'));
    const ssl = (...args: string[]): void => {
      execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
    };
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    ssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=lockstep test CA');
    writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\n');
    writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
    for (const who of ['server', 'client']) {
      ssl('req', ...ec, '-keyout', `${who}.key`, '-out', `${who}.csr`, '-subj', `/CN=lockstep ${who}`);
      ssl(
        'x509',
        '-req',
        '-in',
        `${who}.csr`,
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-out',
        `${who}.crt`,
        '-days',
        '2',
        '-extfile',
        `${who}.ext`,
      );
    }
    const read = (f: string): string => readFileSync(join(dir, f), 'utf8');
    pem = { ca: read('ca.crt'), serverKey: read('server.key'), serverCert: read('server.crt'), clientKey: read('client.key'), clientCert: read('client.crt') };
    tlsServer = createHttpsServer({ key: pem.serverKey, cert: pem.serverCert, ca: pem.ca, requestCert: true, rejectUnauthorized: true }, (req, res) => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      json(res, 200, { client: peer.subject?.CN });
    });
    tlsBase = `https://127.0.0.1:${await listen(tlsServer)}`;
  });
  afterAll(async () => {
    await closeServer(tlsServer);
    rmSync(dir, { recursive: true, force: true });
  });

  it('presents the client certificate and trusts the given CA', async () => {
    const http = new HttpClient({ baseUrl: tlsBase, tls: { key: pem.clientKey, cert: pem.clientCert, ca: pem.ca } });
    await expect(http.get('whoami')).resolves.toEqual({ client: 'lockstep client' });
    await http.close();
  });

  it('reports an untrusted server certificate as a config error, not retried', async () => {
    const retries: number[] = [];
    const http = new HttpClient({
      baseUrl: tlsBase,
      tls: { key: pem.clientKey, cert: pem.clientCert },
      onRetry: (i) => retries.push(i.attempt),
    });
    const err = await failure(http.get('whoami'));
    expect(err).toMatchObject({ code: 'config', retryable: false });
    expect(retries).toEqual([]);
    await http.close();
  });

  it('fails without a client certificate when the server requires one', async () => {
    const http = new HttpClient({ baseUrl: tlsBase, tls: { ca: pem.ca }, maxAttempts: 1 });
    const err = await failure(http.get('whoami'));
    // TLS 1.3 servers refuse after the handshake: the client sees a reset or a certificate alert.
    expect(['unavailable', 'auth']).toContain(err.code);
    await http.close();
  });
});
