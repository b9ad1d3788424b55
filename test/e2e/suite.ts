/**
 * The common frame of the OpenSC end-to-end suites (vitest hooks; test/e2e/harness.ts stays free of vitest so the
 * benchmarks can use it too).
 */
import { afterAll, beforeAll, expect } from 'vitest';
import { acquireReaderLock, ensurePcscd, removeDirectory, startHsm, type HsmProcess } from './harness.js';

export interface HsmOnReader {
  /** The HSM process serving the vpcd reader now. */
  readonly hsm: () => HsmProcess;
  /** Stops it cleanly (asserting exit 0) and starts it again on the same data directory. */
  restart(): Promise<HsmProcess>;
}

/**
 * The common frame of an OpenSC suite, registered as the calling describe's beforeAll/afterAll: take the vpcd reader
 * (suites take turns), make sure pcscd runs with the stall fix, start a fresh HSM process (optionally with extra
 * arguments and a setup step), and afterwards stop it cleanly (exit 0, flash synced), remove its data and give the
 * reader back.
 */
export function useHsmOnReader(options: { extraArguments?: readonly string[]; afterStart?: () => Promise<void> } = {}): HsmOnReader {
  let stopPcscd: () => Promise<void> = async () => undefined;
  let releaseReader: () => void = () => undefined;
  let current: HsmProcess | undefined;
  beforeAll(async () => {
    releaseReader = await acquireReaderLock();
    stopPcscd = await ensurePcscd();
    current = await startHsm(undefined, options.extraArguments ?? []);
    await options.afterStart?.();
  }, 60_000);
  afterAll(async () => {
    if (current) {
      expect(await current.stop()).toBe(0);
      expect(current.output()).toContain('stopped; flash image synced');
      removeDirectory(current.dataDirectory);
    }
    await stopPcscd();
    releaseReader();
  }, 30_000);
  const hsm = (): HsmProcess => {
    if (!current) throw new Error('the HSM has not started');
    return current;
  };
  return {
    hsm,
    async restart() {
      const directory = hsm().dataDirectory;
      expect(await hsm().stop()).toBe(0);
      current = await startHsm(directory, options.extraArguments ?? []);
      return current;
    },
  };
}
