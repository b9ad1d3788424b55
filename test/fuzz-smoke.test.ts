/**
 * A few seconds of every fuzz target with a fixed seed (the ~1 minute CI smoke is `npm run fuzz:smoke`).
 * Known, reported bugs (tools/fuzz/known-bugs.ts) are counted, not failed: their corpus cases cover them.
 */
import { describe, expect, it } from 'vitest';
import { fuzz } from '../tools/fuzz/harness.js';
import { TARGETS } from '../tools/fuzz/targets.js';

const RUNS: Record<string, number> = { decoders: 1000, 'apdu-parser': 1000, 'storage-mount': 300, handlers: 30, device: 12 };

describe('fuzz smoke', () => {
  for (const target of TARGETS) {
    it(`${target.name}: ${RUNS[target.name] ?? 20} inputs of seed 1 hold every oracle`, async () => {
      const report = await fuzz(target, { seed: 1, runs: RUNS[target.name] ?? 20, stopOnFinding: true });
      expect(report.findings.map((finding) => `${finding.message}\nreplay: npm run fuzz -- --replay ${finding.replay}`)).toEqual([]);
      expect(report.executions).toBeGreaterThan(0);
    });
  }
});
