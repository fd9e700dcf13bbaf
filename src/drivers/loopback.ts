import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * What every fake of a vendor API (connectors/NAME/fake) needs of HTTP, in one place: a server
 * on loopback at a port of the system's choosing, a close that does not wait for keep-alive
 * connections, and a request body read whole. The fakes themselves keep the vendor's shapes.
 */

/** The request body, read whole, as UTF-8 text. */
export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** An HTTP server on 127.0.0.1 for a fake: listen() gives its base URL, close() ends it and its connections. */
export class LoopbackServer {
  private server: Server | undefined;
  url = '';

  constructor(private readonly handler: (req: IncomingMessage, res: ServerResponse) => void) {}

  async listen(port = 0): Promise<string> {
    this.server = createServer(this.handler);
    // shorter than Node's default, so a driver's pooled connection is not cut mid-request at close
    this.server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    const { port: bound } = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${bound}`;
    return this.url;
  }

  get listening(): boolean {
    return !!this.server;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
