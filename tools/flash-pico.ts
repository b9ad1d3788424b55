/**
 * `npm run flash -- --port /dev/ttyACM0`: builds dist/pico-hsm.js (tools/build-pico.ts, budget enforced) and
 * writes it to a Pico running Kaluma 1.2.x with @kaluma/cli 1.0.0's `write` command (YMODEM over the console at
 * 115200 baud, then `.load`). @kaluma/cli 1.0.0 has no `bundle`/`flash` commands: we bundle with esbuild ourselves.
 *
 * @kaluma/cli is not a dependency of this project (its serialport 9 dependency builds a native module with
 * node-gyp). Install it once, globally or in the project:  npm install --save-dev @kaluma/cli@1.0.0
 * This tool runs `npx --no-install kaluma write ...` and explains how to install it when it is missing.
 *
 *   npm run flash -- --port /dev/ttyACM0 [--skip-build] [--bundle dist/pico-hsm.js]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { DEFAULT_BUNDLE_PATH, buildPicoBundle, describeBundle } from './build-pico.js';

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
  const probe = spawnSync('npx', ['--no-install', 'kaluma', '--version'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    throw new Error(
      '@kaluma/cli is not installed. Install it once (it builds serialport with node-gyp: needs python3, make, g++):\n' +
        '  npm install --save-dev @kaluma/cli@1.0.0      (or: npm install -g @kaluma/cli@1.0.0)\n' +
        `then run again, or write by hand: npx kaluma write ${bundlePath} --port ${port}`,
    );
  }
  console.log(`writing ${bundlePath} to ${port} with @kaluma/cli ${probe.stdout.trim()}`);
  const written = spawnSync('npx', ['--no-install', 'kaluma', 'write', bundlePath, '--port', port], { stdio: 'inherit' });
  if (written.status !== 0) throw new Error(`kaluma write failed (exit ${written.status})`);
  console.log('done: the board runs the HSM now; start the bridge: npm run bridge -- --port ' + port);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
