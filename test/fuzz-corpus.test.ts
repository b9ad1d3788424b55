/**
 * Replays the fuzz regression corpus (test/fuzz-corpus/*.json, written by tools/fuzz): each case runs its
 * target's oracles on its minimised input, deterministically. A case marked `expectFailure` is a reported bug
 * not yet fixed: it must still fail (once the fix lands, this test says so: drop the mark and the entry in
 * tools/fuzz/known-bugs.ts).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { replayCase, type CorpusCase } from '../tools/fuzz/harness.js';
import { targetNamed } from '../tools/fuzz/targets.js';

const DIRECTORY = join(import.meta.dirname, 'fuzz-corpus');
const files = readdirSync(DIRECTORY).filter((file) => file.endsWith('.json')).sort();

describe('fuzz regression corpus', () => {
  it('has cases', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  for (const file of files) {
    const corpusCase = JSON.parse(readFileSync(join(DIRECTORY, file), 'utf8')) as CorpusCase;
    it(`${file}: ${corpusCase.caught.slice(0, 100)}`, async () => {
      const error = await replayCase(targetNamed(corpusCase.target), corpusCase.input);
      if (corpusCase.expectFailure) {
        expect(error, 'this known bug no longer reproduces: if it was fixed, remove expectFailure here and the entry in tools/fuzz/known-bugs.ts').toBeDefined();
        if (corpusCase.oracle) expect(String(error instanceof Error ? error.message : error)).toContain(corpusCase.oracle);
      } else {
        expect(error === undefined ? undefined : error instanceof Error ? (error.stack ?? error.message) : String(error)).toBeUndefined();
      }
    });
  }
});
