/**
 * A serial device (or one end of a pseudo-terminal) as Node's TTY streams, for the tools that talk to a Kaluma
 * board (tools/bridge.ts, tools/flash-pico.ts) and the tests' simulated board.
 *
 * Not fs streams: those read with a blocking read(2) on a thread-pool thread, which no close interrupts; Node joins
 * its thread pool at exit, so a tool hung on Ctrl-C until the board sent another byte (an idle HSM sends none), and
 * such a read left behind takes bytes meant for the next program that opens the port. The TTY streams are libuv TTY
 * handles (their own descriptors, polled, written with blocking writes as a terminal is).
 */
import { execFileSync } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import tty from 'node:tty';

export interface TtyStreams {
  readonly input: tty.ReadStream;
  readonly output: tty.WriteStream;
  /** Destroys both streams, waits until they are closed, then closes the descriptor. */
  close(): Promise<void>;
}

function closed(stream: tty.ReadStream | tty.WriteStream): Promise<void> {
  return new Promise((resolveClose) => (stream.closed ? resolveClose() : stream.once('close', () => resolveClose())));
}

/** TTY streams on an open descriptor (which close() closes). */
export function ttyStreams(fd: number): TtyStreams {
  const input = new tty.ReadStream(fd);
  const output = new tty.WriteStream(fd);
  return {
    input,
    output,
    async close() {
      input.destroy();
      output.destroy();
      await Promise.all([closed(input), closed(output)]);
      try {
        closeSync(fd);
      } catch {
        // The handles used this descriptor itself (libuv could not reopen the device) and closed it.
      }
    },
  };
}

/** A serial device path put in raw mode by stty (no echo, no line discipline, no flow control), as TTY streams. */
export function openRawTty(path: string, baud = 115200): TtyStreams {
  execFileSync('stty', ['-F', path, 'raw', '-echo', '-echoe', '-echok', '-echoctl', '-echoke', '-icanon', '-isig', '-ixon', '-ixoff', '-crtscts', String(baud)]);
  return ttyStreams(openSync(path, 'r+'));
}
