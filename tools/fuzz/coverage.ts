/**
 * V8 block coverage of the product code (actors/, messages/, hal/, boards/, machines/) through node:inspector:
 * `startCoverage()` then `takeCoverage()` counts the blocks executed at least once since the start. Used for
 * the --coverage figures and for the coverage-feedback experiment (see docs/fuzzing.md).
 */
import { Session } from 'node:inspector/promises';

let session: Session | undefined;

const PRODUCT = /\/(actors|messages|hal|boards|machines)\//;

interface Range {
  readonly startOffset: number;
  readonly endOffset: number;
  readonly count: number;
}

export interface CoverageFigures {
  readonly coveredBlocks: number;
  readonly totalBlocks: number;
  /** "url:start-end" of every covered block (for union and difference in experiments). */
  readonly covered: Set<string>;
}

export async function startCoverage(): Promise<void> {
  if (session === undefined) {
    session = new Session();
    session.connect();
    await session.post('Profiler.enable');
  }
  await session.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
  // Discard what ran before the start.
  await session.post('Profiler.takePreciseCoverage');
}

/** Blocks covered since the last take (V8 resets the counters on every take). */
export async function takeCoverage(): Promise<CoverageFigures> {
  if (session === undefined) throw new Error('coverage not started');
  const { result } = (await session.post('Profiler.takePreciseCoverage')) as { result: { url: string; functions: { ranges: Range[] }[] }[] };
  const covered = new Set<string>();
  let totalBlocks = 0;
  for (const script of result) {
    if (!PRODUCT.test(script.url) || script.url.includes('node_modules')) continue;
    for (const fn of script.functions) {
      for (const range of fn.ranges) {
        totalBlocks += 1;
        if (range.count > 0) covered.add(`${script.url}:${range.startOffset}-${range.endOffset}`);
      }
    }
  }
  return { coveredBlocks: covered.size, totalBlocks, covered };
}
