/**
 * Tests of hal/host/socket-link.ts: the local unix-socket link (server and its small client). Covers framing,
 * request types, error answers, serving several clients one request at a time in arrival order, the socket
 * file's mode and lifecycle (stale file removal, refusing a live or non-socket path, removal at close).
 */
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  SOCKET_LINK_ERROR,
  SOCKET_LINK_MAX_PAYLOAD,
  SocketLink,
  SocketLinkClient,
  SocketLinkError,
  describeSocketLinkEvent,
  type SocketLinkEvent,
  type SocketLinkOptions,
} from '../hal/host/socket-link.js';
import { FrameDecoder } from '../hal/host/vpcd-link.js';

const ATR = Uint8Array.from(Buffer.from('3BFE1800008131FE458031815448534D31738021408107FA', 'hex'));
const sleep = (milliseconds: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, milliseconds));

let directory: string;
let path: string;
const cleanups: Array<() => Promise<void> | void> = [];

beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), 'socket-link-'));
  path = join(directory, 'hsm.sock');
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  rmSync(directory, { recursive: true, force: true });
});

async function startLink(overrides: Partial<SocketLinkOptions> = {}) {
  const events: SocketLinkEvent[] = [];
  const link = new SocketLink({
    path,
    atr: ATR,
    onApdu: async (command) => Uint8Array.of(command[1], 0x90, 0x00),
    ...overrides,
    onEvent: (event) => {
      events.push(event);
      expect(describeSocketLinkEvent(event)).toMatch(/^socket: /);
    },
  });
  cleanups.push(() => link.close());
  await link.start();
  return { link, events };
}

async function client(): Promise<SocketLinkClient> {
  const connected = await SocketLinkClient.connect(path);
  cleanups.push(() => connected.close());
  return connected;
}

/** A raw connection, for malformed traffic; collects the frames the server sends back. */
async function rawConnection(): Promise<{ socket: Socket; frames: Uint8Array[]; closed: Promise<void> }> {
  const socket = createConnection(path);
  cleanups.push(() => void socket.destroy());
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const frames: Uint8Array[] = [];
  const decoder = new FrameDecoder(4, SOCKET_LINK_MAX_PAYLOAD);
  socket.on('data', (chunk: Buffer) => frames.push(...decoder.push(chunk)));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, frames, closed };
}

async function waitUntil(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(5);
  }
}

function frame(payload: number[]): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(payload.length);
  return Buffer.concat([header, Buffer.from(payload)]);
}

describe('SocketLink', () => {
  it('creates the socket with mode 0600 and answers APDU and session requests', async () => {
    const power: string[] = [];
    const { events } = await startLink({ onPower: (change) => void power.push(change) });
    const stat = lstatSync(path);
    expect(stat.isSocket()).toBe(true);
    expect(stat.mode & 0o777).toBe(0o600);
    expect(events[0]).toEqual({ type: 'listening', path });

    const hsm = await client();
    expect([...(await hsm.transmit(Uint8Array.of(0x00, 0xa4, 0x04, 0x00)))]).toEqual([0xa4, 0x90, 0x00]);
    expect(Buffer.from(await hsm.resetSession()).equals(Buffer.from(ATR))).toBe(true);
    expect(power).toEqual(['reset']);
    expect(events.map((event) => event.type)).toEqual(['listening', 'clientConnected', 'sessionReset']);
  });

  it('serves several clients one request at a time, in arrival order, and pipelined requests in order', async () => {
    let active = 0;
    let maxActive = 0;
    const log: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    await startLink({
      onApdu: async (command) => {
        active++;
        maxActive = Math.max(maxActive, active);
        log.push(`start ${command[1]}`);
        if (command[1] === 1) await gate; // the first command runs until every other request has arrived
        await sleep(command[2]); // P1 = how long this command takes
        log.push(`end ${command[1]}`);
        active--;
        return Uint8Array.of(command[1], 0x90, 0x00);
      },
    });
    const [first, second] = await Promise.all([client(), client()]);
    const answers: Promise<Uint8Array>[] = [];
    answers.push(first.transmit(Uint8Array.of(0x00, 1, 0, 0x00)));
    await waitUntil(() => log.length === 1);
    // Spaced out so that their arrival order is the order they are sent in.
    for (const [hsm, number, duration] of [[second, 2, 10], [first, 3, 10], [first, 4, 0], [second, 5, 0]] as const) {
      answers.push(hsm.transmit(Uint8Array.of(0x00, number, duration, 0x00)));
      await sleep(20);
    }
    expect(log).toEqual(['start 1']);
    release();
    const results = await Promise.all(answers);
    expect(results.map((result) => result[0])).toEqual([1, 2, 3, 4, 5]);
    expect(maxActive).toBe(1);
    expect(log).toEqual(['start 1', 'end 1', 'start 2', 'end 2', 'start 3', 'end 3', 'start 4', 'end 4', 'start 5', 'end 5']);
  });

  it('reassembles requests split across writes and several requests in one write', async () => {
    await startLink();
    const { socket, frames } = await rawConnection();
    const both = Buffer.concat([frame([0x01, 0x00, 0xb0, 0x00, 0x00]), frame([0x01, 0x00, 0xb1, 0x00, 0x00]), frame([0x02])]);
    for (const byte of both.subarray(0, 7)) {
      socket.write(Uint8Array.of(byte));
      await sleep(1);
    }
    socket.write(both.subarray(7));
    await waitUntil(() => frames.length >= 3);
    expect(frames.map((answer) => Buffer.from(answer).toString('hex'))).toEqual([
      '81b09000',
      '81b19000',
      `82${Buffer.from(ATR).toString('hex')}`,
    ]);
  });

  it('answers unknown types and empty frames with 0xFF codes and keeps the connection', async () => {
    const { events } = await startLink();
    const hsm = await client();
    await expect(hsm.requestRaw(Uint8Array.of(0x7e, 0x01))).resolves.toEqual(Uint8Array.of(0xff, SOCKET_LINK_ERROR.unknownType));
    await expect(hsm.requestRaw(new Uint8Array(0))).resolves.toEqual(Uint8Array.of(0xff, SOCKET_LINK_ERROR.emptyFrame));
    expect([...(await hsm.transmit(Uint8Array.of(0x00, 0x84, 0x00, 0x00, 0x08)))]).toEqual([0x84, 0x90, 0x00]);
    expect(events.filter((event) => event.type === 'protocolError')).toHaveLength(2);
  });

  it('answers an oversized frame with frameTooLarge and closes that connection only', async () => {
    const { events } = await startLink();
    const other = await client();
    const { socket, frames, closed } = await rawConnection();
    const header = Buffer.alloc(4);
    header.writeUInt32BE(SOCKET_LINK_MAX_PAYLOAD + 1);
    socket.write(header);
    await closed;
    expect(frames.map((answer) => [...answer])).toEqual([[0xff, SOCKET_LINK_ERROR.frameTooLarge]]);
    await waitUntil(() => events.some((event) => event.type === 'clientDisconnected' && event.reason === 'protocolError'));
    expect([...(await other.transmit(Uint8Array.of(0x00, 0x20, 0x00, 0x81)))]).toEqual([0x20, 0x90, 0x00]);
  });

  it('accepts the largest extended APDU and returns a 65536-byte response', async () => {
    const big = new Uint8Array(65538).fill(0x5a);
    await startLink({ onApdu: async (command) => (command.length === SOCKET_LINK_MAX_PAYLOAD - 1 ? big : Uint8Array.of(0x67, 0x00)) });
    const hsm = await client();
    const command = new Uint8Array(SOCKET_LINK_MAX_PAYLOAD - 1);
    command.set([0x00, 0xd7, 0x00, 0x00, 0x00, 0xff, 0xff]);
    const response = await hsm.transmit(command);
    expect(response.length).toBe(65538);
  });

  it('answers 6F00 when the handler rejects or returns a bad response', async () => {
    let mode: 'reject' | 'empty' = 'reject';
    const { events } = await startLink({
      onApdu: async () => {
        if (mode === 'reject') throw new Error('handler broke');
        return new Uint8Array(0);
      },
      onPower: () => Promise.reject(new Error('reset broke')),
    });
    const hsm = await client();
    expect([...(await hsm.transmit(Uint8Array.of(0x00, 0x00, 0x00, 0x00)))]).toEqual([0x6f, 0x00]);
    mode = 'empty';
    expect([...(await hsm.transmit(Uint8Array.of(0x00, 0x00, 0x00, 0x00)))]).toEqual([0x6f, 0x00]);
    expect(Buffer.from(await hsm.resetSession()).equals(Buffer.from(ATR))).toBe(true);
    expect(events.filter((event) => event.type === 'handlerFailed').map((event) => event.type === 'handlerFailed' && event.during)).toEqual(['apdu', 'apdu', 'reset']);
  });

  it('skips the queued requests of a client that left', async () => {
    const seen: number[] = [];
    await startLink({
      onApdu: async (command) => {
        seen.push(command[1]);
        await sleep(command[2]);
        return Uint8Array.of(0x90, 0x00);
      },
    });
    const staying = await client();
    const leaving = await client();
    const slow = staying.transmit(Uint8Array.of(0x00, 1, 40, 0x00));
    await sleep(5);
    const abandoned = leaving.transmit(Uint8Array.of(0x00, 2, 0, 0x00));
    leaving.close();
    await expect(abandoned).rejects.toBeInstanceOf(SocketLinkError);
    await slow;
    expect([...(await staying.transmit(Uint8Array.of(0x00, 3, 0, 0x00)))]).toEqual([0x90, 0x00]);
    expect(seen).toEqual([1, 3]);
  });

  it('refuses clients beyond maxClients', async () => {
    const { events } = await startLink({ maxClients: 1 });
    const first = await client();
    const { closed } = await rawConnection();
    await closed;
    expect(events).toContainEqual({ type: 'clientRefused', reason: 'tooManyClients' });
    expect([...(await first.transmit(Uint8Array.of(0x00, 0x01, 0x00, 0x00)))]).toEqual([0x01, 0x90, 0x00]);
  });

  it('close() disconnects clients, removes the socket file, and is idempotent', async () => {
    const { link, events } = await startLink();
    const hsm = await client();
    await hsm.transmit(Uint8Array.of(0x00, 0x01, 0x00, 0x00));
    await Promise.all([link.close(), link.close()]);
    expect(existsSync(path)).toBe(false);
    await expect(hsm.transmit(Uint8Array.of(0x00, 0x01, 0x00, 0x00))).rejects.toBeInstanceOf(SocketLinkError);
    expect(events.slice(-2)).toEqual([{ type: 'clientDisconnected', clientId: 1, reason: 'serverClosed' }, { type: 'closed' }]);
    await expect(SocketLinkClient.connect(path)).rejects.toThrow();
  });

  it('removes a stale socket file left by a killed process', async () => {
    // A child process listens on the path and is killed with SIGKILL: its socket file stays behind.
    const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    child.kill('SIGKILL');
    await new Promise<void>((resolve) => child.once('exit', () => resolve()));
    expect(lstatSync(path).isSocket()).toBe(true);
    const { events } = await startLink();
    expect(events.map((event) => event.type)).toEqual(['removedStaleSocket', 'listening']);
    const hsm = await client();
    expect([...(await hsm.transmit(Uint8Array.of(0x00, 0x07, 0x00, 0x00)))]).toEqual([0x07, 0x90, 0x00]);
  });

  it('refuses a path where another instance listens, or which is not a socket', async () => {
    await startLink();
    const second = new SocketLink({ path, atr: ATR, onApdu: async () => Uint8Array.of(0x90, 0x00) });
    await expect(second.start()).rejects.toThrow(/another process is listening/);
    expect(lstatSync(path).isSocket()).toBe(true); // the live socket was left alone

    const regular = join(directory, 'not-a-socket');
    writeFileSync(regular, 'keep me');
    const third = new SocketLink({ path: regular, atr: ATR, onApdu: async () => Uint8Array.of(0x90, 0x00) });
    await expect(third.start()).rejects.toThrow(/not a socket/);
    expect(readFileSync(regular, 'utf8')).toBe('keep me');
    expect(statSync(regular).isFile()).toBe(true);
  });
});
