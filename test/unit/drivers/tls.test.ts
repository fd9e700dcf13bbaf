import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { caFileOption, clientCertificateOption, maxAttemptsOption, pageSizeOption } from '../../../src/drivers/options.js';
import { retryLog } from '../../../src/drivers/retry-log.js';
import { loadTls } from '../../../src/drivers/tls.js';
import { LockstepError } from '../../../src/domain/errors.js';

const ctx = { system: 'door' };

async function files(contents: Record<string, string>): Promise<Record<string, string>> {
  const dir = await mkdtemp(join(tmpdir(), 'lockstep-tls-'));
  const out: Record<string, string> = {};
  for (const [name, text] of Object.entries(contents)) {
    out[name] = join(dir, name);
    await writeFile(out[name], text);
  }
  return out;
}

describe('drivers: shared TLS, option and retry-log helpers', () => {
  it('reads the client certificate, key and CA files once, the certificate’s own CA before caFile', async () => {
    const f = await files({ cert: 'CERT', key: 'KEY', ca: 'CA', other: 'OTHER-CA' });
    expect(
      await loadTls(ctx, { clientCertificate: { cert: f.cert, key: f.key, ca: f.ca, passphrase: 'pw', servername: 'cc.local' }, caFile: f.other }),
    ).toEqual({
      cert: 'CERT',
      key: 'KEY',
      ca: 'CA',
      passphrase: 'pw',
      servername: 'cc.local',
    });
    expect(await loadTls(ctx, { clientCertificate: { cert: f.cert, key: f.key }, caFile: f.other })).toEqual({ cert: 'CERT', key: 'KEY', ca: 'OTHER-CA' });
    expect(await loadTls(ctx, { caFile: f.other, rejectUnauthorized: false })).toEqual({ ca: 'OTHER-CA', rejectUnauthorized: false });
    expect(await loadTls(ctx, {})).toBeUndefined();
  });

  it('names the option whose file cannot be read', async () => {
    const err = await loadTls(ctx, { clientCertificate: { cert: '/nonexistent/cert.pem', key: '/nonexistent/key.pem' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockstepError);
    expect((err as LockstepError).code).toBe('config');
    expect((err as LockstepError).message).toContain('systems.door.options.clientCertificate.cert');
  });

  it('gives the option pieces their limits and defaults', () => {
    const schema = z.strictObject({
      maxAttempts: maxAttemptsOption(),
      pageSize: pageSizeOption(100, 50),
      caFile: caFileOption(),
      clientCertificate: clientCertificateOption(),
    });
    expect(schema.parse({})).toEqual({ maxAttempts: 3, pageSize: 50 });
    expect(schema.safeParse({ pageSize: 101 }).success).toBe(false);
    expect(schema.safeParse({ maxAttempts: 0 }).success).toBe(false);
    expect(schema.safeParse({ clientCertificate: { cert: 'c' } }).success).toBe(false);
  });

  it('logs a retried request with the system, request, attempt, delay and error code', () => {
    const logged: Array<[object, string | undefined]> = [];
    const logger = { info: () => undefined, error: () => undefined, warn: (o: object, msg?: string) => void logged.push([o, msg]) };
    retryLog(
      { system: 'door', logger },
      'Vendor request retried',
    )({ method: 'GET', path: '/x', attempt: 1, delayMs: 200, error: new LockstepError('unavailable', 'busy') });
    expect(logged).toEqual([[{ system: 'door', method: 'GET', path: '/x', attempt: 1, delayMs: 200, code: 'unavailable' }, 'Vendor request retried']]);
  });
});
