/**
 * Bugs found by the fuzzer, reported, and not yet fixed in product code. While a bug is listed here, inputs that
 * hit it count as "known" instead of stopping the run, so the fuzzer keeps exploring past it; `--strict` turns
 * the list off. Each bug has a regression case in test/fuzz-corpus/ marked `expectFailure: true`; when the fix
 * lands, that case fails (it now passes): drop `expectFailure` there and the entry here.
 */

export interface KnownBug {
  readonly id: string;
  readonly target: string;
  readonly description: string;
  readonly matches: (error: unknown) => boolean;
}

// Empty: bug 1 (decode-response-prototype-code, error codes looked up on Object.prototype) was fixed in 1102993.
// An entry looks like:
//   { id: 'decode-response-prototype-code', target: 'decoders', description: '...',
//     matches: (error) => error instanceof Finding && error.oracle === 'decodeResponse-throws' && /unreachable/.test(error.message) },
export const KNOWN_BUGS: readonly KnownBug[] = [];

export function knownBug(target: string, error: unknown): KnownBug | undefined {
  return KNOWN_BUGS.find((bug) => bug.target === target && bug.matches(error));
}
