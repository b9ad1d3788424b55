/**
 * Planted bugs (tools/model-check/mutants.ts): broken variants of the real machines and of the real actors. The
 * checker must catch every one with a counterexample: the machine checker with the shortest event path, the
 * composition with the shortest command path on the real device. A mutant that survives means an invariant of the
 * catalogue lost its teeth.
 */
import { describe, expect, it } from 'vitest';
import { exploreComposition, formatSystemViolation } from '../tools/model-check/composition.js';
import { explore, formatViolation } from '../tools/model-check/explore.js';
import { MACHINE_MUTANTS, SYSTEM_MUTANTS } from '../tools/model-check/mutants.js';

describe('machine mutants: every planted bug is caught with a counterexample', () => {
  for (const mutant of MACHINE_MUTANTS) {
    it(`catches "${mutant.id}" (${mutant.description})`, () => {
      const result = explore(mutant.model());
      const caught = result.violations.filter((violation) => mutant.caughtBy.includes(violation.invariant));
      expect(caught.length, `survived; it raised only: ${result.violations.map((violation) => violation.invariant).join(', ') || 'nothing'}`).toBeGreaterThan(0);
      for (const violation of caught) {
        expect(violation.path.length).toBeGreaterThan(0);
        console.log(`[mutant ${mutant.id}]\n${formatViolation(violation)}`);
      }
    });
  }
});

describe('system mutants: the composition catches planted bugs in the real actors', () => {
  for (const mutant of SYSTEM_MUTANTS) {
    it(`catches "${mutant.id}" (${mutant.description})`, async () => {
      const result = await exploreComposition({ roots: mutant.roots, seeds: [1, 2], cutsPerCommand: 2, wrap: mutant.wrap });
      const caught = result.violations.filter((violation) => mutant.caughtBy.includes(violation.invariant));
      expect(caught.length, `survived; it raised only: ${result.violations.map((violation) => violation.invariant).join(', ') || 'nothing'}`).toBeGreaterThan(0);
      for (const violation of caught) {
        expect(violation.path.length).toBeGreaterThan(0);
        console.log(`[mutant ${mutant.id}]\n${formatSystemViolation(violation)}`);
      }
    });
  }
});
