/**
 * The host board's local link: a unix-domain socket server through which local programs (the pico-hsm CLI, the
 * TypeScript client library, tests) send APDUs to this HSM without pcscd. Same handler contract as the vpcd link
 * (hal/host/vpcd-link.ts): every C-APDU goes to `onApdu`, which resolves with data ‖ SW1 SW2.
 *
 *   const link = new SocketLink({
 *     path: join(dataDirectory, 'hsm.sock'),
 *     atr: SMARTCARD_HSM_ATR,
 *     onApdu: async (command, session) => transport.handle(command, session),
 *     onPower: (change, session) => transport.resetSession(change, session),   // 'reset': session request; 'powerOff': client gone
 *     onEvent: (event) => console.log(describeSocketLinkEvent(event)),
 *   });
 *   await link.start();      // creates the socket file, mode 0600
 *   ...
 *   await link.close();      // disconnects clients and removes the socket file
 *
 *   // client side
 *   const client = await SocketLinkClient.connect(path);
 *   const atr = await client.resetSession();
 *   const response = await client.transmit(Uint8Array.of(0x00, 0x84, 0x00, 0x00, 0x08));
 *   client.close();
 *
 * Wire format, both directions: 4-byte big-endian length, then a payload whose first byte is its type:
 *   client -> server  0x01 ‖ C-APDU        a command (any length; malformed ones get the parser's status word)
 *                     0x02                 start a fresh session (like a card reset: logs out, deselects);
 *                                          the server calls onPower('reset') before anything queued later
 *   server -> client  0x81 ‖ R-APDU        the answer to 0x01 (data ‖ SW1 SW2; 6F00 if the handler failed)
 *                     0x82 ‖ ATR           the answer to 0x02
 *                     0xFF ‖ code          a request the server could not understand (codes below); after
 *                                          `frameTooLarge` the server closes the connection (framing is lost)
 * Payloads are at most SOCKET_LINK_MAX_PAYLOAD bytes (type + the longest extended APDU).
 *
 * Scheduling: there is ONE card behind the socket, so requests from all clients are served one at a time in
 * arrival order (a single FIFO across connections); a client may pipeline requests and gets its answers in order.
 * Sessions: each client is its own card session (handlers get SOCKET_SESSION_BASE + client id): its selected
 * applet, command chain, pending response and verified PIN are its own, 0x02 resets only its session, and its
 * session is powered off (logged out) when it disconnects.
 *
 * Security: the socket file is created with mode 0600 (only the owner can connect: connecting to a unix socket
 * needs write permission on it). Put it in a directory only the owner can enter (the data directory, 0700), which
 * also closes the short window between bind() and chmod(). A stale socket file left by a crashed process is
 * removed at start; a live one (another instance answers) or a non-socket file at the path is an error.
 */
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { FrameDecoder, FrameTooLargeError, type ApduHandler, type CardPowerChange } from './vpcd-link.js';

export const SOCKET_LINK_TYPE = {
  apdu: 0x01,
  session: 0x02,
  apduResponse: 0x81,
  sessionResponse: 0x82,
  error: 0xff,
} as const;

/** Codes carried by a 0xFF error payload. */
export const SOCKET_LINK_ERROR = {
  unknownType: 0x01,
  emptyFrame: 0x02,
  frameTooLarge: 0x03,
} as const;

/** Type byte + the longest extended C-APDU (4 header + 3 Lc + 65535 data + 3 Le). */
export const SOCKET_LINK_MAX_PAYLOAD = 1 + 4 + 3 + 65535 + 3;
/** Longest R-APDU a handler may return here: 65536 data bytes (extended Le 0000) + SW1 SW2. */
export const SOCKET_LINK_MAX_RESPONSE = 65536 + 2;
/** Each client's card session number is this plus its client id (session 0 is the vpcd reader's). */
export const SOCKET_SESSION_BASE = 1;

const NO_PRECISE_DIAGNOSIS = Uint8Array.of(0x6f, 0x00);

export type SocketLinkEvent =
  | { readonly type: 'listening'; readonly path: string }
  | { readonly type: 'removedStaleSocket'; readonly path: string }
  | { readonly type: 'clientConnected'; readonly clientId: number }
  | { readonly type: 'clientRefused'; readonly reason: 'tooManyClients' }
  | { readonly type: 'clientDisconnected'; readonly clientId: number; readonly reason: 'closed' | 'error' | 'protocolError' | 'serverClosed'; readonly message?: string }
  | { readonly type: 'sessionReset'; readonly clientId: number }
  | { readonly type: 'protocolError'; readonly clientId: number; readonly message: string }
  | { readonly type: 'handlerFailed'; readonly clientId: number; readonly during: 'apdu' | 'reset'; readonly message: string }
  | { readonly type: 'closed' };

export interface SocketLinkOptions {
  /** Where to create the socket, e.g. DATA_DIR/hsm.sock. */
  readonly path: string;
  /** Returned to a session (0x02) request. */
  readonly atr: Uint8Array;
  readonly onApdu: ApduHandler;
  /** Optional: called with 'reset' for each 0x02 request, awaited before the next queued request. */
  readonly onPower?: (change: CardPowerChange, session?: number) => void | Promise<void>;
  /** Optional: for logging. Must not throw (exceptions are swallowed). */
  readonly onEvent?: (event: SocketLinkEvent) => void;
  /** Connections beyond this are closed at once. Default 16. */
  readonly maxClients?: number;
}

export function describeSocketLinkEvent(event: SocketLinkEvent): string {
  switch (event.type) {
    case 'listening':
      return `socket: listening on ${event.path}`;
    case 'removedStaleSocket':
      return `socket: removed a stale socket file at ${event.path}`;
    case 'clientConnected':
      return `socket: client ${event.clientId} connected`;
    case 'clientRefused':
      return 'socket: refused a client (too many clients)';
    case 'clientDisconnected':
      return `socket: client ${event.clientId} disconnected (${event.reason}${event.message === undefined ? '' : `: ${event.message}`})`;
    case 'sessionReset':
      return `socket: client ${event.clientId} started a new session`;
    case 'protocolError':
      return `socket: client ${event.clientId}: ${event.message}`;
    case 'handlerFailed':
      return `socket: client ${event.clientId}: ${event.during} handler failed: ${event.message}`;
    case 'closed':
      return 'socket: closed';
    default:
      return unreachable(event);
  }
}

function unreachable(value: never): never {
  throw new Error(`unreachable: ${JSON.stringify(value)}`);
}

/** Encodes one frame: 4-byte big-endian length, type byte, body. */
export function encodeSocketFrame(type: number, body: Uint8Array): Uint8Array {
  const length = 1 + body.length;
  const frame = new Uint8Array(4 + length);
  new DataView(frame.buffer).setUint32(0, length);
  frame[4] = type;
  frame.set(body, 5);
  return frame;
}

interface Client {
  readonly id: number;
  readonly socket: Socket;
}

/** The server; see the file header. */
export class SocketLink {
  readonly path: string;
  private readonly atr: Uint8Array;
  private readonly onApdu: ApduHandler;
  private readonly onPower: ((change: CardPowerChange, session?: number) => void | Promise<void>) | undefined;
  private readonly onEvent: ((event: SocketLinkEvent) => void) | undefined;
  private readonly maxClients: number;

  private server: Server | null = null;
  private started = false;
  private readonly clients = new Map<number, Client>();
  private nextClientId = 1;
  /** The single FIFO of requests from every client. */
  private queue: Promise<void> = Promise.resolve();
  private closing: Promise<void> | null = null;

  constructor(options: SocketLinkOptions) {
    this.path = options.path;
    this.atr = Uint8Array.from(options.atr);
    this.onApdu = options.onApdu;
    this.onPower = options.onPower;
    this.onEvent = options.onEvent;
    this.maxClients = options.maxClients ?? 16;
  }

  /** Creates the socket file (mode 0600) and accepts clients. Rejects if the path is taken. */
  async start(): Promise<void> {
    if (this.started || this.closing !== null) throw new Error('SocketLink.start: already started (a link starts once)');
    this.started = true;
    await this.removeStaleSocket();
    const server = createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error): void => reject(error);
      server.once('error', onError);
      server.listen(this.path, () => {
        server.off('error', onError);
        resolve();
      });
    });
    try {
      chmodSync(this.path, 0o600);
    } catch (error) {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      throw error;
    }
    this.server = server;
    server.on('error', () => {
      // After listening, errors are per connection and reported there.
    });
    this.emit({ type: 'listening', path: this.path });
  }

  /** Disconnects every client, stops listening and removes the socket file. Idempotent. */
  close(): Promise<void> {
    if (this.closing !== null) return this.closing;
    this.closing = (async () => {
      const server = this.server;
      for (const client of this.clients.values()) {
        this.emit({ type: 'clientDisconnected', clientId: client.id, reason: 'serverClosed' });
        client.socket.destroy();
      }
      this.clients.clear();
      if (server !== null) {
        await new Promise<void>((resolve) => server.close(() => resolve()));
        // libuv unlinks the path when a listening pipe closes; this covers platforms or versions that do not.
        removeIfSocket(this.path);
      }
      this.emit({ type: 'closed' });
    })();
    return this.closing;
  }

  private async removeStaleSocket(): Promise<void> {
    let isSocket: boolean;
    try {
      isSocket = lstatSync(this.path).isSocket();
    } catch (error) {
      if (isErrorCode(error, 'ENOENT')) return;
      throw error;
    }
    if (!isSocket) throw new Error(`SocketLink: ${this.path} exists and is not a socket; refusing to replace it`);
    const alive = await new Promise<boolean>((resolve) => {
      const probe = createConnection(this.path);
      probe.once('connect', () => {
        probe.destroy();
        resolve(true);
      });
      probe.once('error', () => resolve(false));
    });
    if (alive) throw new Error(`SocketLink: another process is listening on ${this.path}`);
    unlinkSync(this.path);
    this.emit({ type: 'removedStaleSocket', path: this.path });
  }

  private accept(socket: Socket): void {
    if (this.closing !== null || this.clients.size >= this.maxClients) {
      this.emit({ type: 'clientRefused', reason: 'tooManyClients' });
      socket.destroy();
      return;
    }
    const client: Client = { id: this.nextClientId++, socket };
    this.clients.set(client.id, client);
    this.emit({ type: 'clientConnected', clientId: client.id });
    const decoder = new FrameDecoder(4, SOCKET_LINK_MAX_PAYLOAD);
    let ending: { reason: 'error' | 'protocolError'; message: string } | null = null;

    socket.on('data', (chunk: Buffer) => {
      if (ending !== null) return;
      let frames: Uint8Array[];
      try {
        frames = decoder.push(chunk);
      } catch (error) {
        const message = error instanceof FrameTooLargeError ? error.message : String(error);
        ending = { reason: 'protocolError', message };
        this.emit({ type: 'protocolError', clientId: client.id, message });
        // Answer in order: after everything this client already queued.
        this.queue = this.queue.then(() => {
          if (!socket.destroyed) socket.end(encodeSocketFrame(SOCKET_LINK_TYPE.error, Uint8Array.of(SOCKET_LINK_ERROR.frameTooLarge)));
        });
        return;
      }
      for (const frame of frames) {
        this.queue = this.queue.then(() => this.handleFrame(client, frame));
      }
    });
    socket.on('error', (error: Error) => {
      ending ??= { reason: 'error', message: error.message };
    });
    socket.on('close', () => {
      if (!this.clients.delete(client.id)) return; // close() already reported it
      // The client's card session ends with its connection: log it out on the device (queued behind its requests).
      const onPower = this.onPower;
      if (onPower !== undefined) {
        this.queue = this.queue.then(async () => {
          try {
            await onPower('powerOff', SOCKET_SESSION_BASE + client.id);
          } catch {
            // The device is shutting down; nothing is left to log out.
          }
        });
      }
      this.emit(ending === null
        ? { type: 'clientDisconnected', clientId: client.id, reason: 'closed' }
        : { type: 'clientDisconnected', clientId: client.id, reason: ending.reason, message: ending.message });
    });
  }

  /** Serves one request; never rejects (the shared queue must keep going). */
  private async handleFrame(client: Client, frame: Uint8Array): Promise<void> {
    if (client.socket.destroyed) return; // the client left before its turn
    if (frame.length === 0) {
      this.emit({ type: 'protocolError', clientId: client.id, message: 'empty frame' });
      this.reply(client, SOCKET_LINK_TYPE.error, Uint8Array.of(SOCKET_LINK_ERROR.emptyFrame));
      return;
    }
    const body = frame.subarray(1);
    switch (frame[0]) {
      case SOCKET_LINK_TYPE.apdu: {
        let response: Uint8Array;
        try {
          response = await this.onApdu(body, SOCKET_SESSION_BASE + client.id);
          if (!(response instanceof Uint8Array) || response.length < 2 || response.length > SOCKET_LINK_MAX_RESPONSE) {
            const length = response instanceof Uint8Array ? response.length : -1;
            this.emit({ type: 'handlerFailed', clientId: client.id, during: 'apdu', message: `response of ${length} bytes is outside 2..${SOCKET_LINK_MAX_RESPONSE}; answered 6F00` });
            response = NO_PRECISE_DIAGNOSIS;
          }
        } catch (error) {
          this.emit({ type: 'handlerFailed', clientId: client.id, during: 'apdu', message: `${errorMessage(error)}; answered 6F00` });
          response = NO_PRECISE_DIAGNOSIS;
        }
        this.reply(client, SOCKET_LINK_TYPE.apduResponse, response);
        return;
      }
      case SOCKET_LINK_TYPE.session: {
        this.emit({ type: 'sessionReset', clientId: client.id });
        if (this.onPower !== undefined) {
          try {
            await this.onPower('reset', SOCKET_SESSION_BASE + client.id);
          } catch (error) {
            this.emit({ type: 'handlerFailed', clientId: client.id, during: 'reset', message: errorMessage(error) });
          }
        }
        this.reply(client, SOCKET_LINK_TYPE.sessionResponse, this.atr);
        return;
      }
      default:
        this.emit({ type: 'protocolError', clientId: client.id, message: `unknown request type 0x${frame[0].toString(16).padStart(2, '0')}` });
        this.reply(client, SOCKET_LINK_TYPE.error, Uint8Array.of(SOCKET_LINK_ERROR.unknownType));
        return;
    }
  }

  private reply(client: Client, type: number, body: Uint8Array): void {
    if (!client.socket.destroyed) client.socket.write(encodeSocketFrame(type, body));
  }

  private emit(event: SocketLinkEvent): void {
    if (this.onEvent === undefined) return;
    try {
      this.onEvent(event);
    } catch {
      // A logging listener must not be able to break the link.
    }
  }
}

/** An error answer (0xFF) or a lost connection, as seen by SocketLinkClient. */
export class SocketLinkError extends Error {
  override readonly name = 'SocketLinkError';
  constructor(message: string, readonly code: number | null) {
    super(message);
  }
}

/**
 * A minimal client of the socket link (for the management tool, scripts and tests). Requests may be issued
 * concurrently; answers arrive in request order, so they are matched by a FIFO of pending promises.
 */
export class SocketLinkClient {
  private readonly decoder = new FrameDecoder(4, SOCKET_LINK_MAX_PAYLOAD);
  private readonly pending: Array<{ expect: number; resolve: (body: Uint8Array) => void; reject: (error: Error) => void }> = [];
  private failure: Error | null = null;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      let frames: Uint8Array[];
      try {
        frames = this.decoder.push(chunk);
      } catch (error) {
        this.fail(new SocketLinkError(errorMessage(error), null));
        socket.destroy();
        return;
      }
      for (const frame of frames) this.receive(frame);
    });
    socket.on('error', (error: Error) => this.fail(new SocketLinkError(error.message, null)));
    socket.on('close', () => this.fail(new SocketLinkError('connection closed', null)));
  }

  static connect(path: string): Promise<SocketLinkClient> {
    return new Promise((resolve, reject) => {
      const socket = createConnection(path);
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new SocketLinkClient(socket));
      });
    });
  }

  /** Sends a C-APDU; resolves with the R-APDU (data ‖ SW1 SW2). */
  transmit(command: Uint8Array): Promise<Uint8Array> {
    return this.request(SOCKET_LINK_TYPE.apdu, command, SOCKET_LINK_TYPE.apduResponse);
  }

  /** Starts a fresh session (logs out, deselects); resolves with the ATR. */
  resetSession(): Promise<Uint8Array> {
    return this.request(SOCKET_LINK_TYPE.session, new Uint8Array(0), SOCKET_LINK_TYPE.sessionResponse);
  }

  /** Sends a raw payload (type byte included); resolves with the raw answer payload. For protocol tests. */
  requestRaw(payload: Uint8Array): Promise<Uint8Array> {
    return this.request(null, payload, null);
  }

  close(): void {
    this.socket.destroy();
  }

  private request(type: number | null, body: Uint8Array, expect: number | null): Promise<Uint8Array> {
    if (this.failure !== null) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.pending.push({ expect: expect ?? -1, resolve, reject });
      if (type === null) {
        const frame = new Uint8Array(4 + body.length);
        new DataView(frame.buffer).setUint32(0, body.length);
        frame.set(body, 4);
        this.socket.write(frame);
      } else {
        this.socket.write(encodeSocketFrame(type, body));
      }
    });
  }

  private receive(frame: Uint8Array): void {
    const waiter = this.pending.shift();
    if (waiter === undefined) return; // unsolicited: ignore
    if (waiter.expect === -1) return waiter.resolve(frame);
    if (frame.length >= 1 && frame[0] === waiter.expect) return waiter.resolve(frame.slice(1));
    if (frame.length === 2 && frame[0] === SOCKET_LINK_TYPE.error) {
      return waiter.reject(new SocketLinkError(`server error code 0x${frame[1].toString(16).padStart(2, '0')}`, frame[1]));
    }
    waiter.reject(new SocketLinkError(`unexpected answer type ${frame.length === 0 ? 'none' : frame[0]}`, null));
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const waiter of this.pending.splice(0)) waiter.reject(this.failure);
  }
}

function removeIfSocket(path: string): void {
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch (error) {
    if (!isErrorCode(error, 'ENOENT')) throw error;
  }
}

function isErrorCode(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && 'code' in error && (error as { code: unknown }).code === code;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
