#!/usr/bin/env node
// The `pico-hsm` command: loads tsx's ESM hooks (a dependency of this repository) and runs app/cli.ts.
// Works from a checkout after `npm ci` (`npx pico-hsm ...`, `node bin/pico-hsm.mjs ...`) and when the package is linked.
// Ctrl-C before the CLI is loaded: nothing has been sent to the device yet (app/cli.ts replaces this handler).
process.on('SIGINT', () => {
  process.stderr.write('\npico-hsm: interrupted before anything was sent to the device\n');
  process.exit(130);
});

const { register } = await import('tsx/esm/api');
register();
const { main } = await import('../app/cli.ts');
process.exitCode = await main(process.argv.slice(2));
