/**
 * `npm run flash -- --port /dev/ttyACM0`: builds dist/pico-hsm.js (tools/build-pico.ts, budget enforced) and
 * writes it to a Pico running Kaluma 1.2.x with @kaluma/cli 1.0.0's `write` command (YMODEM over the console at
 * 115200 baud, then `.load`). @kaluma/cli 1.0.0 has no `bundle`/`flash` commands: we bundle with esbuild ourselves.
 *
 * @kaluma/cli 1.0.0 is an optional dependency: `npm ci` installs it and builds its serialport 9 native module with
 * node-gyp (python3, make, g++); where that build fails, npm leaves it out and this tool says how to get it.
 * `kaluma write` exits 0 even when it fails (it prints the error), so success is its "Done. (<file> : <n> bytes)"
 * line with n equal to the bundle's size.
 *
 *   npm run flash -- --port /dev/ttyACM0 [--skip-build] [--bundle dist/pico-hsm.js]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { DEFAULT_BUNDLE_PATH, PROJECT_ROOT, buildPicoBundle, describeBundle } from './build-pico.js';

/** The project's @kaluma/cli binary, else whatever `kaluma` is on the PATH (a global install). */
function kalumaCommand(): string {
  const local = join(PROJECT_ROOT, 'node_modules', '.bin', 'kaluma');
  return existsSync(local) ? local : 'kaluma';
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const value = (name: string) => {
    const index = args.indexOf(name);
    return index >= 0 ? args[index + 1] : undefined;
  };
  const port = value('--port');
  if (!port) throw new Error('usage: npm run flash -- --port /dev/ttyACM0 [--skip-build] [--bundle FILE]');
  const bundlePath = resolve(value('--bundle') ?? DEFAULT_BUNDLE_PATH);
  if (!args.includes('--skip-build')) {
    const bundle = await buildPicoBundle();
    console.log(describeBundle(bundle));
    if (bundle.overBudget) throw new Error('the bundle is over budget: not flashing (it would not fit the Pico heap)');
    mkdirSync(dirname(bundlePath), { recursive: true });
    writeFileSync(bundlePath, bundle.code);
  }
  if (!existsSync(bundlePath)) throw new Error(`${bundlePath} does not exist: run npm run build:pico`);
  if (!existsSync(port)) throw new Error(`${port} does not exist: is the Pico plugged in and running Kaluma (ls /dev/ttyACM*)?`);
  const kaluma = kalumaCommand();
  const probe = spawnSync(kaluma, ['--version'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    throw new Error(
      '@kaluma/cli is not installed (npm ci installs it unless building its serialport module failed: that needs\n' +
        'python3, make and g++). Install them and run npm ci again, or: npm install -g @kaluma/cli@1.0.0',
    );
  }
  const size = statSync(bundlePath).size;
  console.log(`writing ${bundlePath} (${size} bytes) to ${port} with @kaluma/cli ${probe.stdout.trim()}`);
  const written = spawnSync(kaluma, ['write', bundlePath, '--port', port], { encoding: 'utf8' });
  process.stdout.write(written.stdout ?? '');
  process.stderr.write(written.stderr ?? '');
  const done = /Done\. \(.* : (\d+) bytes\)/.exec(written.stdout ?? '');
  if (written.status !== 0 || !done) throw new Error(`kaluma write failed (exit ${written.status}; no "Done." line): nothing was loaded`);
  if (Number(done[1]) !== size) throw new Error(`kaluma write reports ${done[1]} bytes written, the bundle has ${size}: write it again`);
  console.log(`done: ${size} bytes written and loaded; the board runs the HSM now. Start the bridge: npm run bridge -- --port ${port}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
