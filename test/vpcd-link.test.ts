/**
 * Tests of hal/host/vpcd-link.ts against a fake vpcd: a net.Server on an ephemeral port playing pcscd's vpcd
 * driver (it listens; the link is the card and connects). Covers framing (split frames, several frames per
 * chunk), the control bytes, attachment, handler failures, ordering, reconnection with backoff, and close().
 */
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  FrameDecoder,
  FrameTooLargeError,
  VpcdLink,
  describeVpcdEvent,
  encodeVpcdFrame,
  type CardPowerChange,
  type VpcdEvent,
  type VpcdLinkOptions,
} from '../hal/host/vpcd-link.js';

const ATR = Uint8Array.from(Buffer.from('3BFE1800008131FE458031815448534D31738021408107FA', 'hex'));
const sleep = (milliseconds: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, milliseconds));

/** A fake vpcd reader: accepts the card's connection and speaks 2-byte-length frames to it. */
class FakeVpcd {
  private server: Server | null = null;
  private socket: Socket | null = null;
  private decoder = new FrameDecoder(2, 0xffff);
  private readonly received: Uint8Array[] = [];
  private waiters: Array<(frame: Uint8Array) => void> = [];
  private connectionWaiters: Array<() => void> = [];
  connections = 0;
  port = 0;

  async listen(port = 0): Promise<void> {
    const server = createServer((socket) => {
      this.connections++;
      this.socket?.destroy(); // one card at a time is enough for these tests
      this.socket = socket;
      this.decoder = new FrameDecoder(2, 0xffff);
      socket.on('data', (chunk: Buffer) => {
        for (const frame of this.decoder.push(chunk)) {
          const waiter = this.waiters.shift();
          if (waiter === undefined) this.received.push(frame);
          else waiter(frame);
        }
      });
      socket.on('error', () => undefined);
      for (const waiter of this.connectionWaiters.splice(0)) waiter();
    });
    this.server = server;
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    this.port = (server.address() as AddressInfo).port;
  }

  /** Resolves once a card is connected (immediately if one is). */
  connected(): Promise<void> {
    if (this.socket !== null && !this.socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => this.connectionWaiters.push(resolve));
  }

  /** Writes raw bytes (already framed) in one write. */
  write(bytes: Uint8Array): void {
    if (this.socket === null) throw new Error('no card connected');
    this.socket.write(bytes);
  }

  /** Sends one frame as vpcd 0.8 does: the length and the payload in two separate writes, with a pause. */
  async sendSplit(payload: Uint8Array): Promise<void> {
    const frame = encodeVpcdFrame(payload);
    this.write(frame.subarray(0, 2));
    await sleep(5);
    this.write(frame.subarray(2));
  }

  /** The next frame the card sent. */
  nextFrame(timeoutMs = 2000): Promise<Uint8Array> {
    const queued = this.received.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no frame from the card')), timeoutMs);
      this.waiters.push((frame) => {
        clearTimeout(timer);
        resolve(frame);
      });
    });
  }

  /** How many frames arrived that nobody consumed yet. */
  get unreadFrames(): number {
    return this.received.length;
  }

  /** Drops the card's connection (vpcd's reader closing it). */
  dropConnection(): void {
    this.socket?.destroy();
    this.socket = null;
  }

  /** Stops listening and drops the connection (pcscd stopped). */
  async stop(): Promise<void> {
    this.dropConnection();
    const server = this.server;
    this.server = null;
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** A link plus the events it reported, with helpers to wait for one. */
function makeLink(fake: FakeVpcd, overrides: Partial<VpcdLinkOptions> = {}) {
  const events: VpcdEvent[] = [];
  const listeners: Array<() => void> = [];
  const link = new VpcdLink({
    host: '127.0.0.1',
    port: fake.port,
    atr: ATR,
    onApdu: async (command) => Uint8Array.of(...command.subarray(0, 2), 0x90, 0x00),
    backoff: { initialMs: 20, maxMs: 100 },
    ...overrides,
    onEvent: (event) => {
      events.push(event);
      expect(describeVpcdEvent(event)).toMatch(/^vpcd: /);
      for (const listener of listeners.splice(0)) listener();
    },
  });
  /** Resolves when an event matching `predicate` has been reported (counting from index `from`). */
  const waitForEvent = async (predicate: (event: VpcdEvent) => boolean, from = 0, timeoutMs = 3000): Promise<VpcdEvent> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = events.slice(from).find(predicate);
      if (found !== undefined) return found;
      if (Date.now() > deadline) throw new Error(`event not seen; got ${events.map((event) => event.type).join(', ')}`);
      await Promise.race([new Promise<void>((resolve) => listeners.push(resolve)), sleep(50)]);
    }
  };
  return { link, events, waitForEvent };
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(overrides: Partial<VpcdLinkOptions> = {}) {
  const fake = new FakeVpcd();
  await fake.listen();
  const harness = makeLink(fake, overrides);
  cleanups.push(() => fake.stop());
  cleanups.push(() => harness.link.close());
  harness.link.start();
  await fake.connected();
  await harness.waitForEvent((event) => event.type === 'connected');
  return { fake, ...harness };
}

describe('FrameDecoder', () => {
  it('reassembles any chunking of any frame sequence (2- and 4-byte headers)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<2 | 4>(2, 4),
        fc.array(fc.uint8Array({ maxLength: 600 }), { maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (headerBytes, payloads, cutSeeds) => {
          const stream = Buffer.concat(payloads.map((payload) => {
            const header = Buffer.alloc(headerBytes);
            if (headerBytes === 2) header.writeUInt16BE(payload.length);
            else header.writeUInt32BE(payload.length);
            return Buffer.concat([header, payload]);
          }));
          const cuts = [...new Set(cutSeeds.map((seed) => (stream.length === 0 ? 0 : seed % stream.length)))].sort((a, b) => a - b);
          const decoder = new FrameDecoder(headerBytes, 0xffff);
          const frames: Uint8Array[] = [];
          let previous = 0;
          for (const cut of [...cuts, stream.length]) {
            frames.push(...decoder.push(stream.subarray(previous, cut)));
            previous = cut;
          }
          expect(frames.map((frame) => Buffer.from(frame).toString('hex'))).toEqual(payloads.map((payload) => Buffer.from(payload).toString('hex')));
          expect(decoder.bufferedBytes).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('handles a maximal 65535-byte vpcd frame delivered one byte at a time, then byte-exact', () => {
    const payload = Uint8Array.from({ length: 0xffff }, (_, index) => index & 0xff);
    const frame = encodeVpcdFrame(payload);
    const decoder = new FrameDecoder(2, 0xffff);
    const frames: Uint8Array[] = [];
    for (let index = 0; index < frame.length; index += 1) frames.push(...decoder.push(frame.subarray(index, index + 1)));
    expect(frames).toHaveLength(1);
    expect(Buffer.from(frames[0]).equals(Buffer.from(payload))).toBe(true);
  });

  it('refuses a frame longer than its limit', () => {
    const decoder = new FrameDecoder(4, 100);
    expect(() => decoder.push(Uint8Array.of(0, 0, 0, 101))).toThrow(FrameTooLargeError);
    expect(() => encodeVpcdFrame(new Uint8Array(0x10000))).toThrow(RangeError);
  });
});

describe('VpcdLink', () => {
  it('is attached at the first frame, not at the TCP connect, and answers GET ATR', async () => {
    const { fake, events, waitForEvent, link } = await setup();
    await sleep(30);
    expect(events.map((event) => event.type)).toEqual(['connecting', 'connected']);
    expect(link.status).toBe('connected');
    await fake.sendSplit(Uint8Array.of(0x04));
    expect(Buffer.from(await fake.nextFrame()).equals(Buffer.from(ATR))).toBe(true);
    await waitForEvent((event) => event.type === 'attached');
    expect(link.status).toBe('attached');
    // A second GET ATR does not attach again.
    await fake.sendSplit(Uint8Array.of(0x04));
    await fake.nextFrame();
    expect(events.filter((event) => event.type === 'attached')).toHaveLength(1);
  });

  it('answers an APDU whose frame arrives in pieces (vpcd 0.8 split writes, and byte by byte)', async () => {
    const { fake } = await setup();
    await fake.sendSplit(Uint8Array.of(0x00, 0xa4, 0x04, 0x00, 0x02, 0x3f, 0x00));
    expect([...(await fake.nextFrame())]).toEqual([0x00, 0xa4, 0x90, 0x00]);
    const frame = encodeVpcdFrame(Uint8Array.of(0x80, 0xca, 0x01, 0x02, 0x00));
    for (const byte of frame) {
      fake.write(Uint8Array.of(byte));
      await sleep(1);
    }
    expect([...(await fake.nextFrame())]).toEqual([0x80, 0xca, 0x90, 0x00]);
  });

  it('handles several frames in one chunk strictly in order, power changes between commands', async () => {
    const log: string[] = [];
    const { fake, events, waitForEvent } = await setup({
      onApdu: async (command) => {
        log.push(`apdu ${command[1].toString(16)}`);
        await sleep(command[1] === 0x01 ? 30 : 1); // the first is slower: answers must still come in order
        return Uint8Array.of(command[1], 0x90, 0x00);
      },
      onPower: async (change: CardPowerChange) => {
        log.push(change);
        await sleep(5);
      },
    });
    fake.write(Uint8Array.from([
      ...encodeVpcdFrame(Uint8Array.of(0x01)), // power on
      ...encodeVpcdFrame(Uint8Array.of(0x04)), // get ATR
      ...encodeVpcdFrame(Uint8Array.of(0x00, 0x01, 0x00, 0x00)),
      ...encodeVpcdFrame(Uint8Array.of(0x02)), // reset
      ...encodeVpcdFrame(Uint8Array.of(0x00, 0x02, 0x00, 0x00)),
      ...encodeVpcdFrame(Uint8Array.of(0x00)), // power off
      ...encodeVpcdFrame(Uint8Array.of(0x00, 0x03, 0x00, 0x00)),
    ]));
    expect(Buffer.from(await fake.nextFrame()).equals(Buffer.from(ATR))).toBe(true);
    expect([...(await fake.nextFrame())]).toEqual([0x01, 0x90, 0x00]);
    expect([...(await fake.nextFrame())]).toEqual([0x02, 0x90, 0x00]);
    expect([...(await fake.nextFrame())]).toEqual([0x03, 0x90, 0x00]);
    await sleep(20);
    expect(fake.unreadFrames).toBe(0); // power on/off/reset got no reply
    expect(log).toEqual(['powerOn', 'apdu 1', 'reset', 'apdu 2', 'powerOff', 'apdu 3']);
    await waitForEvent((event) => event.type === 'powerOff');
    const types = events.map((event) => event.type);
    expect(types.slice(0, 4)).toEqual(['connecting', 'connected', 'attached', 'powerOn']);
    expect(types).toContain('reset');
  });

  it('ignores empty frames and unknown control bytes, and still answers what follows', async () => {
    const { fake, waitForEvent } = await setup();
    fake.write(Uint8Array.from([0x00, 0x00, ...encodeVpcdFrame(Uint8Array.of(0x03)), ...encodeVpcdFrame(Uint8Array.of(0x00, 0xb0, 0x00, 0x00))]));
    expect([...(await fake.nextFrame())]).toEqual([0x00, 0xb0, 0x90, 0x00]);
    await waitForEvent((event) => event.type === 'ignoredFrame' && event.length === 0);
    await waitForEvent((event) => event.type === 'ignoredFrame' && event.firstByte === 0x03);
  });

  it('passes 2- and 3-byte payloads to the handler (the parser answers them), not as control', async () => {
    const seen: number[] = [];
    const { fake } = await setup({ onApdu: async (command) => (seen.push(command.length), Uint8Array.of(0x67, 0x00)) });
    await fake.sendSplit(Uint8Array.of(0x00, 0xa4));
    expect([...(await fake.nextFrame())]).toEqual([0x67, 0x00]);
    await fake.sendSplit(Uint8Array.of(0x00, 0xa4, 0x04));
    expect([...(await fake.nextFrame())]).toEqual([0x67, 0x00]);
    expect(seen).toEqual([2, 3]);
  });

  it('answers 6F00 when the handler rejects or breaks the size contract, and keeps working', async () => {
    let behaviour: 'reject' | 'huge' | 'short' | 'ok' = 'reject';
    const { fake, events } = await setup({
      onApdu: async () => {
        switch (behaviour) {
          case 'reject':
            throw new Error('boom');
          case 'huge':
            return new Uint8Array(0x10000);
          case 'short':
            return Uint8Array.of(0x90);
          case 'ok':
            return Uint8Array.of(0x90, 0x00);
        }
      },
      onPower: () => {
        throw new Error('power handler broke');
      },
    });
    for (const next of ['reject', 'huge', 'short'] as const) {
      behaviour = next;
      await fake.sendSplit(Uint8Array.of(0x00, 0x84, 0x00, 0x00, 0x08));
      expect([...(await fake.nextFrame())]).toEqual([0x6f, 0x00]);
    }
    behaviour = 'ok';
    await fake.sendSplit(Uint8Array.of(0x01)); // the power handler throws: reported, not fatal
    await fake.sendSplit(Uint8Array.of(0x00, 0x84, 0x00, 0x00, 0x08));
    expect([...(await fake.nextFrame())]).toEqual([0x90, 0x00]);
    const failures = events.filter((event) => event.type === 'handlerFailed');
    expect(failures.map((event) => event.type === 'handlerFailed' && event.during)).toEqual(['apdu', 'apdu', 'apdu', 'powerOn']);
  });

  it('answers a maximal 65535-byte response and a command split into many TCP segments', async () => {
    const big = Uint8Array.from({ length: 0xffff }, (_, index) => (index * 7) & 0xff);
    const { fake } = await setup({ onApdu: async (command) => (command.length > 60000 ? big : Uint8Array.of(0x90, 0x00)) });
    const command = new Uint8Array(4 + 3 + 65000);
    command.set([0x00, 0xd7, 0x00, 0x00, 0x00, 0xfd, 0xe8]);
    await fake.sendSplit(command);
    const response = await fake.nextFrame();
    expect(Buffer.from(response).equals(Buffer.from(big))).toBe(true);
  });

  it('reconnects after vpcd drops the connection, and a reply computed for the old connection is not sent', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let calls = 0;
    const { fake, events, waitForEvent } = await setup({
      onApdu: async () => {
        calls++;
        if (calls === 1) await gate; // the first command hangs until after the reconnection
        return Uint8Array.of(0x90, 0x00);
      },
    });
    await fake.sendSplit(Uint8Array.of(0x04));
    await fake.nextFrame();
    await fake.sendSplit(Uint8Array.of(0x00, 0x01, 0x00, 0x00)); // handler now blocked
    await sleep(10);
    const before = events.length;
    fake.dropConnection();
    const disconnected = await waitForEvent((event) => event.type === 'disconnected', before);
    expect(disconnected).toMatchObject({ type: 'disconnected', reason: { kind: 'remoteClosed' }, wasAttached: true });
    await waitForEvent((event) => event.type === 'retrying', before);
    await waitForEvent((event) => event.type === 'connected', before);
    await fake.connected();
    release(); // the stale reply would now go out, but to a dead connection only
    await sleep(20);
    expect(fake.unreadFrames).toBe(0);
    // Frames on the new connection are served; the old handler's queue does not block them.
    await fake.sendSplit(Uint8Array.of(0x00, 0x02, 0x00, 0x00));
    expect([...(await fake.nextFrame())]).toEqual([0x90, 0x00]);
    expect(fake.connections).toBe(2);
  });

  it('backs off exponentially while vpcd is away, up to the maximum, and resets after attaching', async () => {
    const { fake, events, waitForEvent, link } = await setup({ backoff: { initialMs: 10, maxMs: 40 } });
    const port = fake.port;
    await fake.sendSplit(Uint8Array.of(0x04));
    await fake.nextFrame();
    await fake.stop(); // pcscd goes away: the connection closes and new connects are refused
    const deadline = Date.now() + 3000;
    while (events.filter((event) => event.type === 'retrying').length < 4 && Date.now() < deadline) await sleep(10);
    const delays = events.flatMap((event) => (event.type === 'retrying' ? [event.delayMs] : []));
    expect(delays.slice(0, 4)).toEqual([10, 20, 40, 40]);
    const failures = events.filter((event) => event.type === 'disconnected' && event.reason.kind === 'connectFailed');
    expect(failures.length).toBeGreaterThanOrEqual(3);
    expect(['connecting', 'waitingToRetry']).toContain(link.status);

    const restarted = new FakeVpcd();
    await restarted.listen(port); // pcscd is back on the same port
    cleanups.push(() => restarted.stop());
    const from = events.length;
    await restarted.connected();
    await restarted.sendSplit(Uint8Array.of(0x01));
    await waitForEvent((event) => event.type === 'attached', from);
    restarted.dropConnection();
    const retry = await waitForEvent((event) => event.type === 'retrying', from);
    expect(retry).toMatchObject({ delayMs: 10 }); // the backoff started again from the initial delay
  });

  it('reports a connect timeout', async () => {
    // 10.255.255.1 is unroutable in practice: the SYN goes nowhere (or fails fast where there is no route).
    const events: VpcdEvent[] = [];
    const link = new VpcdLink({
      host: '10.255.255.1',
      port: 35963,
      atr: ATR,
      onApdu: async () => Uint8Array.of(0x90, 0x00),
      onEvent: (event) => events.push(event),
      connectTimeoutMs: 50,
      backoff: { initialMs: 1000, maxMs: 1000 },
    });
    link.start();
    const deadline = Date.now() + 2000;
    while (!events.some((event) => event.type === 'disconnected') && Date.now() < deadline) await sleep(10);
    await link.close();
    const disconnected = events.find((event) => event.type === 'disconnected');
    if (disconnected?.type !== 'disconnected') throw new Error('no disconnected event');
    expect(['connectTimeout', 'connectFailed']).toContain(disconnected.reason.kind);
  });

  it('close() during a retry wait cancels it; no event after closed; idempotent', async () => {
    const fake = new FakeVpcd();
    await fake.listen();
    await fake.stop(); // nothing listens on fake.port any more: every connect fails
    const harness = makeLink(fake, { backoff: { initialMs: 30, maxMs: 30 } });
    harness.link.start();
    await harness.waitForEvent((event) => event.type === 'retrying');
    await Promise.all([harness.link.close(), harness.link.close()]);
    const count = harness.events.length;
    expect(harness.events[count - 1].type).toBe('closed');
    expect(harness.link.status).toBe('closed');
    await sleep(80);
    expect(harness.events.length).toBe(count);
    harness.link.start(); // a closed link stays closed
    await sleep(20);
    expect(harness.events.length).toBe(count);
  });

  it('close() while attached reports closedByUser then closed, and the reader sees the card leave', async () => {
    const { fake, link, events } = await setup();
    await fake.sendSplit(Uint8Array.of(0x04));
    await fake.nextFrame();
    await link.close();
    expect(events.slice(-2)).toEqual([
      { type: 'disconnected', reason: { kind: 'closedByUser' }, wasAttached: true },
      { type: 'closed' },
    ]);
    await expect(fake.nextFrame(100)).rejects.toThrow();
  });
});
