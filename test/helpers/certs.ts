import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A test PKI in a temp dir (openssl): `ca.crt`/`ca.key`, a server certificate for 127.0.0.1
 * (`server.crt`/`server.key`) and a client certificate for `clientCn` (`client.crt`/`client.key`),
 * each valid two days. The caller removes the dir.
 */
export function makeTestCertificates(name: string, clientCn: string): string {
  const dir = mkdtempSync(join(tmpdir(), `lockstep-${name}-tls-`));
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ecKey = (file: string) => ssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', file);
  ecKey('ca.key');
  ssl('req', '-x509', '-new', '-key', 'ca.key', '-subj', `/CN=${name} test CA`, '-days', '2', '-out', 'ca.crt');
  for (const [role, cn] of [
    ['server', '127.0.0.1'],
    ['client', clientCn],
  ]) {
    ecKey(`${role}.key`);
    ssl('req', '-new', '-key', `${role}.key`, '-subj', `/CN=${cn}`, '-out', `${role}.csr`);
    writeFileSync(join(dir, `${role}.ext`), role === 'server' ? 'subjectAltName=IP:127.0.0.1\n' : 'extendedKeyUsage=clientAuth\n');
    ssl(
      'x509',
      '-req',
      '-in',
      `${role}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      `${role}.ext`,
      '-out',
      `${role}.crt`,
    );
  }
  return dir;
}
