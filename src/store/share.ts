/**
 * Sharing the embedded store with the CLI. PGlite is one PostgreSQL backend in one process, with
 * one session: a second process must not open its data directory (see lock.ts), and two clients
 * of the one session must not interleave their transactions (a statement of one would run inside
 * the other's transaction, and be rolled back with it).
 *
 * So the process that holds the store (`lockstep serve`) listens on a Unix socket and speaks the
 * PostgreSQL wire protocol there, passing each message to PGlite, and a CLI command that finds
 * serve's lock connects to it with `pg` as it would to PostgreSQL. Every user of the session takes
 * turns through one SessionGate: serve's own statements and transactions each take the gate, and
 * a socket client takes it with its first message and keeps it until PGlite answers
 * ReadyForQuery outside a transaction (status `I`). A CLI transaction is therefore never entered
 * by one of serve's statements, nor the other way round: transactions run one after another, as
 * they would under SERIALIZABLE. A client that keeps a transaction open without sending anything
 * for IDLE_IN_TRANSACTION_MS is disconnected and its transaction rolled back, so serve never
 * waits on a stuck command for long.
 *
 * Who may connect: the socket lies in a directory of its own, mode 0700 (the socket itself
 * 0600), so only the user serve runs as (and root) can reach it, as with PostgreSQL's own
 * Unix-socket peer authentication. The socket file is named as PostgreSQL names its own
 * (`.s.PGSQL.5432`), so `pg` connects to it with `host` set to the directory.
 *
 * Why not @electric-sql/pglite-socket: its releases pin an exact PGlite version (and seven
 * extension packages) as peers, and its queue serialises socket clients among themselves but
 * not against the host process's own queries, which is the interleaving that matters here.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PGlite } from '@electric-sql/pglite';

/** The port in the socket file's name (`.s.PGSQL.<port>`): pg builds the path from host and port. */
export const SHARE_PORT = 5432;
export const SHARE_SOCKET_NAME = `.s.PGSQL.${SHARE_PORT}`;
/** A client in a transaction that sends nothing for this long is disconnected (and rolled back). */
export const IDLE_IN_TRANSACTION_MS = 60_000;
/** sun_path holds 108 bytes with its terminating NUL; a longer path cannot be bound. */
const MAX_SOCKET_PATH = 100;

/** A FIFO mutex: one holder at a time, in the order they asked. */
export class SessionGate {
  private tail: Promise<void> = Promise.resolve();
  private waiting = 0;

  /** Resolves with a release function once every earlier holder has released. */
  acquire(): Promise<() => void> {
    let release!: () => void;
    const turn = new Promise<void>((r) => (release = r));
    const before = this.tail;
    this.tail = before.then(() => turn);
    this.waiting++;
    return before.then(() => {
      this.waiting--;
      let done = false;
      return () => {
        if (done) return;
        done = true;
        release();
      };
    });
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire();
    try {
      return await fn();
    } finally {
      release();
    }
  }

  /** How many are waiting for their turn (for tests and metrics). */
  get queued(): number {
    return this.waiting;
  }
}

export interface StoreShare {
  /** The directory holding the socket: pg's `host`. */
  readonly socketDir: string;
  /** Disconnects every client (rolling back an open transaction) and stops listening. */
  close(): Promise<void>;
}

/**
 * Where the socket goes: beside the data directory (`<dataDir>.socket/`), or, when that path is
 * too long for a Unix socket, in a private directory under the system's temporary directory.
 */
function socketDirFor(dataDir: string): string {
  const beside = `${dataDir}.socket`;
  if (join(beside, SHARE_SOCKET_NAME).length <= MAX_SOCKET_PATH) {
    // left by a process that was killed: ours now (the caller holds the store's lock)
    rmSync(beside, { recursive: true, force: true });
    mkdirSync(beside, { mode: 0o700 });
    chmodSync(beside, 0o700);
    return beside;
  }
  return mkdtempSync(join(tmpdir(), 'lockstep-store-'));
}

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const PROTOCOL_3 = 196608;

/** An ErrorResponse message (severity, SQLSTATE, text). */
function errorResponse(severity: string, code: string, message: string): Buffer {
  const fields = Buffer.concat([
    Buffer.from(`S${severity}\0`),
    Buffer.from(`V${severity}\0`),
    Buffer.from(`C${code}\0`),
    Buffer.from(`M${message}\0`),
    Buffer.from([0]),
  ]);
  const head = Buffer.alloc(5);
  head.write('E', 0);
  head.writeInt32BE(4 + fields.length, 1);
  return Buffer.concat([head, fields]);
}

function message(type: string, body: Buffer): Uint8Array {
  const head = Buffer.alloc(5);
  head.write(type, 0);
  head.writeInt32BE(4 + body.length, 1);
  return new Uint8Array(Buffer.concat([head, body]));
}
const SIMPLE_QUERY = (sql: string) => message('Q', Buffer.from(`${sql}\0`));
const SYNC = message('S', Buffer.alloc(0));
/** Execute of a portal that does not exist: an error, so the Sync after it rolls back what the batch did. */
const EXECUTE_NOTHING = message('E', Buffer.concat([Buffer.from('lockstep_share_abort\0'), Buffer.alloc(4)]));

/**
 * Follows the backend's messages across the chunks PGlite hands out, to see each ReadyForQuery
 * and its transaction status: `I` idle, `T` in a transaction, `E` in a failed transaction.
 */
class ReadyScanner {
  private header = Buffer.alloc(0);
  private skip = 0;
  private type = 0;
  status: 'I' | 'T' | 'E' | null = null;

  push(chunk: Uint8Array): void {
    let buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    while (buf.length > 0) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, buf.length);
        // the one byte of a ReadyForQuery body is its status
        if (this.type === 0x5a && n >= 1) this.status = String.fromCharCode(buf[0]) as 'I' | 'T' | 'E';
        this.skip -= n;
        buf = buf.subarray(n);
        if (this.skip === 0) this.type = 0;
        continue;
      }
      const need = 5 - this.header.length;
      this.header = Buffer.concat([this.header, buf.subarray(0, need)]);
      buf = buf.subarray(need);
      if (this.header.length < 5) return;
      this.type = this.header[0]!;
      this.skip = this.header.readInt32BE(1) - 4;
      this.header = Buffer.alloc(0);
      if (this.skip === 0) this.type = 0;
    }
  }
}

interface ShareOptions {
  pg: PGlite;
  gate: SessionGate;
  /** The PGlite data directory (the socket goes beside it). */
  dataDir: string;
  idleInTransactionMs?: number;
}

/** Serves the PGlite session to local clients over a Unix socket, one turn at a time (see above). */
export async function startStoreShare(opts: ShareOptions): Promise<StoreShare> {
  const { pg, gate } = opts;
  const idleMs = opts.idleInTransactionMs ?? IDLE_IN_TRANSACTION_MS;
  const dir = socketDirFor(opts.dataDir);
  const path = join(dir, SHARE_SOCKET_NAME);
  const clients = new Set<Client>();

  class Client {
    private buf = Buffer.alloc(0);
    private started = false;
    private release: (() => void) | null = null;
    /** Everything this client does, one step after another: its messages, then its cleanup. */
    private chain: Promise<void> = Promise.resolve();
    private idle: NodeJS.Timeout | null = null;
    private closed = false;
    /** Whether this client's last answer left a transaction open (rolled back when it leaves). */
    private inTransaction = false;
    /** Messages of an extended-protocol batch ran, and its Sync has not come yet. */
    private midBatch = false;

    constructor(private readonly socket: Socket) {
      socket.on('data', (d: Buffer) => {
        this.buf = Buffer.concat([this.buf, d]);
        this.chain = this.chain.then(() => this.drain()).catch(() => void this.destroy());
      });
      socket.on('error', () => void this.destroy());
      socket.on('close', () => void this.destroy());
    }

    /** Handles every complete message in the buffer, in order. */
    private async drain(): Promise<void> {
      while (!this.closed) {
        if (!this.started) {
          if (this.buf.length < 8) return;
          const len = this.buf.readInt32BE(0);
          if (this.buf.length < len) return;
          const code = this.buf.readInt32BE(4);
          const msg = this.buf.subarray(0, len);
          this.buf = this.buf.subarray(len);
          if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
            this.socket.write('N'); // a local socket: no TLS, no GSSAPI
            continue;
          }
          if (code !== PROTOCOL_3) {
            // a CancelRequest (PGlite cannot cancel a running statement) or an unknown protocol
            if (code !== CANCEL_REQUEST) this.socket.write(errorResponse('FATAL', '08P01', 'lockstep shares its store with protocol 3.0 clients only'));
            void this.destroy();
            return;
          }
          this.started = true;
          await this.execute(new Uint8Array(msg));
          continue;
        }
        if (this.buf.length < 5) return;
        const len = 1 + this.buf.readInt32BE(1);
        if (this.buf.length < len) return;
        const msg = this.buf.subarray(0, len);
        this.buf = this.buf.subarray(len);
        if (msg[0] === 0x58) {
          // Terminate: the client leaves; PGlite's one session stays
          void this.destroy();
          return;
        }
        await this.execute(new Uint8Array(msg));
      }
    }

    /** Runs one message in this client's turn; the turn ends at ReadyForQuery outside a transaction. */
    private async execute(msg: Uint8Array): Promise<void> {
      if (this.idle) clearTimeout(this.idle);
      this.idle = null;
      if (!this.release) this.release = await gate.acquire();
      if (this.closed) return; // its cleanup runs next, in this turn
      const scan = new ReadyScanner();
      await pg.runExclusive(() =>
        pg.execProtocolRawStream(msg, {
          onRawData: (data) => {
            scan.push(data);
            if (!this.socket.destroyed) this.socket.write(Buffer.from(data));
          },
        }),
      );
      this.midBatch = scan.status === null;
      if (scan.status !== null) this.inTransaction = scan.status !== 'I';
      if (scan.status === 'I') this.endTurn();
      else if (!this.closed) {
        // mid-transaction, or mid-way through an extended-protocol batch: serve waits, but not forever
        this.idle = setTimeout(() => void this.destroy(), idleMs);
        this.idle.unref();
      }
    }

    private endTurn(): void {
      const r = this.release;
      this.release = null;
      r?.();
    }

    /** Disconnects the client; once its last message has run, its session state is cleaned up. */
    destroy(): Promise<void> {
      if (!this.closed) {
        this.closed = true;
        clients.delete(this);
        if (this.idle) clearTimeout(this.idle);
        this.idle = null;
        if (!this.socket.destroyed) this.socket.destroy();
        this.chain = this.chain.then(
          () => this.cleanup(),
          () => this.cleanup(),
        );
      }
      return this.chain;
    }

    /** Leaves the session as it found it: no open transaction, no prepared statements of this client. */
    private async cleanup(): Promise<void> {
      if (!this.started) return this.endTurn();
      if (!this.release) this.release = await gate.acquire();
      try {
        await pg.runExclusive(async () => {
          if (this.midBatch) {
            // cut off before its Sync (a killed client): what the batch did must not commit, as
            // PostgreSQL aborts it when a connection drops; an error first, then the Sync
            const scan = new ReadyScanner();
            scan.push(await pg.execProtocolRaw(EXECUTE_NOTHING));
            scan.push(await pg.execProtocolRaw(SYNC));
            if (scan.status !== null) this.inTransaction = scan.status !== 'I';
          }
          if (this.inTransaction) await pg.execProtocolRaw(SIMPLE_QUERY('ROLLBACK'));
          await pg.execProtocolRaw(SIMPLE_QUERY('DEALLOCATE ALL'));
        });
      } catch {
        /* the store is closing */
      } finally {
        this.inTransaction = false;
        this.midBatch = false;
        this.started = false;
        this.endTurn();
      }
    }
  }

  let closing = false;
  const server: Server = createServer((socket) => {
    if (closing) return void socket.destroy();
    clients.add(new Client(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  // the directory is 0700 already; the socket, too, is for this user only
  chmodSync(path, 0o600);
  server.on('error', () => undefined);

  return {
    socketDir: dir,
    close: async () => {
      if (closing) return;
      closing = true;
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([...clients].map((c) => c.destroy()));
      await stopped;
      // the directory is ours alone (made by socketDirFor)
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
