/**
 * A private SoftHSM2 token for the benchmark: a temporary directory with its own softhsm2.conf (SOFTHSM2_CONF)
 * and token directory, initialised with `softhsm2-util --init-token --free`, so the comparison never touches a
 * token the user has and two runs never share state.
 *
 *   const token = createSoftHsmToken();     // throws with the apt-get line when softhsm2 is missing
 *   spawn(p11bench, ['--module', token.module, '--token', token.label, '--pin', token.pin], { env: { ...process.env, ...token.env } });
 *   token.remove();
 *
 * The object store is SoftHSM2's default file backend, which is what "token key generation" means for SoftHSM2
 * (each token object is a file; the baselines in shared/docs/protocol.md section 7 were taken the same way).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where Debian's softhsm2 package puts the module (libsofthsm2 2.6). */
export const SOFTHSM_MODULES = ['/usr/lib/softhsm/libsofthsm2.so', '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so'];

export interface SoftHsmToken {
  readonly module: string;
  readonly label: string;
  readonly pin: string;
  readonly soPin: string;
  readonly directory: string;
  /** Environment the PKCS#11 client needs (SOFTHSM2_CONF). */
  readonly env: Readonly<Record<string, string>>;
  /** `softhsm2-util --version`, for the results. */
  readonly version: string;
  remove(): void;
}

export function softHsmModule(): string | undefined {
  return SOFTHSM_MODULES.find((path) => existsSync(path));
}

/** Why SoftHSM2 cannot be used here, or undefined when it can. */
export function softHsmMissing(): string | undefined {
  const module = softHsmModule();
  let util = true;
  try {
    execFileSync('softhsm2-util', ['--version'], { stdio: 'ignore' });
  } catch {
    util = false;
  }
  if (module && util) return undefined;
  return `SoftHSM2 is not installed (${module ? '' : 'no libsofthsm2.so; '}${util ? '' : 'no softhsm2-util; '}apt-get install softhsm2)`;
}

export function createSoftHsmToken(options: { label?: string; pin?: string; soPin?: string } = {}): SoftHsmToken {
  const missing = softHsmMissing();
  const module = softHsmModule();
  if (missing !== undefined || module === undefined) throw new Error(missing ?? 'SoftHSM2 module not found');
  const label = options.label ?? 'p11bench-softhsm';
  const pin = options.pin ?? '648219';
  const soPin = options.soPin ?? '3537363231383830';
  const directory = mkdtempSync(join(tmpdir(), 'pico-hsm-bench-softhsm-'));
  const tokens = join(directory, 'tokens');
  mkdirSync(tokens, { mode: 0o700 });
  const conf = join(directory, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  const env = { SOFTHSM2_CONF: conf };
  const remove = (): void => rmSync(directory, { recursive: true, force: true });
  try {
    execFileSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--pin', pin, '--so-pin', soPin], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (error) {
    remove();
    const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(`softhsm2-util --init-token failed: ${stderr || String(error)}`);
  }
  const version = execFileSync('softhsm2-util', ['--version'], { encoding: 'utf8' }).trim();
  return { module, label, pin, soPin, directory, env, version, remove };
}
