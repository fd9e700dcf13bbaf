import type { DriverContext } from './contract.js';
import type { TlsOptions } from './http.js';
import type { ClientCertificateOptions } from './options.js';
import { readOptionFile } from './util.js';

/**
 * The HTTP client's TLS options from a driver's options (src/drivers/options.ts): the client
 * certificate's files (mutual TLS) and the CA bundle are read here, once, when the driver is
 * built; a file that cannot be read is a config error naming its option. The client
 * certificate's own `ca` wins over `caFile`. Undefined: nothing to change (Node's defaults).
 */
export async function loadTls(
  ctx: Pick<DriverContext, 'system'>,
  opts: { clientCertificate?: ClientCertificateOptions | undefined; caFile?: string | undefined; rejectUnauthorized?: boolean | undefined },
): Promise<TlsOptions | undefined> {
  const read = (file: string, option: string): Promise<string> => readOptionFile(ctx, file, option);
  let tls: TlsOptions | undefined;
  const cc = opts.clientCertificate;
  if (cc) {
    tls = {
      cert: await read(cc.cert, 'clientCertificate.cert'),
      key: await read(cc.key, 'clientCertificate.key'),
      ...(cc.ca ? { ca: await read(cc.ca, 'clientCertificate.ca') } : {}),
      ...(cc.passphrase ? { passphrase: cc.passphrase } : {}),
      ...(cc.servername ? { servername: cc.servername } : {}),
    };
  }
  if (opts.caFile && !tls?.ca) tls = { ...(tls ?? {}), ca: await read(opts.caFile, 'caFile') };
  if (opts.rejectUnauthorized !== undefined) tls = { ...(tls ?? {}), rejectUnauthorized: opts.rejectUnauthorized };
  return tls;
}
