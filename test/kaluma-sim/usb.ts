/**
 * The simulated USB CDC link between the host side of a test and the simulated Pico (a worker thread): host ->
 * device bytes go through a SharedArrayBuffer FIFO (the USB endpoint), read synchronously by the device's
 * `process.stdin.read()` (Kaluma reads the console synchronously); device -> host bytes are posted as messages.
 */
export const FIFO_BYTES = 1 << 20;
const HEADER_INTS = 4; // written, read, (unused), (unused)

export interface UsbFifo {
  readonly shared: SharedArrayBuffer;
}

export function createUsbFifo(): UsbFifo {
  return { shared: new SharedArrayBuffer(HEADER_INTS * 4 + FIFO_BYTES) };
}

function views(shared: SharedArrayBuffer): { header: Int32Array; data: Uint8Array } {
  return { header: new Int32Array(shared, 0, HEADER_INTS), data: new Uint8Array(shared, HEADER_INTS * 4, FIFO_BYTES) };
}

/** Host side: queue bytes for the device. */
export function fifoWrite(shared: SharedArrayBuffer, bytes: Uint8Array): void {
  const { header, data } = views(shared);
  const written = Atomics.load(header, 0);
  const read = Atomics.load(header, 1);
  if (written - read + bytes.length > FIFO_BYTES) throw new Error('simulated USB FIFO full');
  for (let index = 0; index < bytes.length; index++) data[(written + index) % FIFO_BYTES] = bytes[index];
  Atomics.store(header, 0, written + bytes.length);
  Atomics.notify(header, 0);
}

/** Device side: take every byte waiting (possibly none). */
export function fifoTake(shared: SharedArrayBuffer): Uint8Array {
  const { header, data } = views(shared);
  const written = Atomics.load(header, 0);
  const read = Atomics.load(header, 1);
  const out = new Uint8Array(written - read);
  for (let index = 0; index < out.length; index++) out[index] = data[(read + index) % FIFO_BYTES];
  Atomics.store(header, 1, written);
  return out;
}

/** Device side: sleep until bytes arrive or `milliseconds` pass. */
export function fifoWait(shared: SharedArrayBuffer, milliseconds: number): void {
  const { header } = views(shared);
  const written = Atomics.load(header, 0);
  if (written !== Atomics.load(header, 1)) return;
  Atomics.wait(header, 0, written, milliseconds);
}
