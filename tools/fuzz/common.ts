/**
 * Shared pieces of the fuzz harness: the target interface, the finding error, a JSON codec that keeps byte
 * strings (corpus files and printed reproductions), hex helpers and the small oracles every target uses.
 */
import type fc from 'fast-check';
import { toHex } from '../../messages/schema.js';

/** Thrown by an oracle: the harness reports it as a finding (anything else thrown by a target is one too). */
export class Finding extends Error {
  override readonly name = 'Finding';
  constructor(
    readonly oracle: string,
    detail: string,
  ) {
    super(`[${oracle}] ${detail}`);
  }
}

/** How often each model invariant was actually exercised (printed with the run figures). */
export const exercised: Record<string, number> = {};
export function exercise(name: string): void {
  exercised[name] = (exercised[name] ?? 0) + 1;
}

export function check(condition: unknown, oracle: string, detail: () => string): asserts condition {
  if (!condition) throw new Finding(oracle, detail());
}

/** One fuzz target: inputs come from `arbitrary()` (so fast-check shrinks them), `run` executes one and checks. */
export interface FuzzTarget<I = unknown> {
  readonly name: string;
  readonly description: string;
  /** Built once per process (templates, images); must be deterministic. */
  setup?(): Promise<void>;
  arbitrary(): fc.Arbitrary<I>;
  /** Executes one input and throws (a Finding, or whatever escaped) when an oracle fails. */
  run(input: I): Promise<void> | void;
}

// ---------------------------------------------------------------------------------------------------------
// JSON with byte strings: Uint8Array <-> { "$hex": "..." }, undefined <-> { "$undefined": true },
// bigint <-> { "$bigint": "..." }, non-finite numbers <-> { "$number": "NaN" }.

export function toJson(value: unknown): unknown {
  if (value instanceof Uint8Array) return { $hex: toHex(value) };
  if (value === undefined) return { $undefined: true };
  if (typeof value === 'bigint') return { $bigint: value.toString() };
  if (typeof value === 'number' && (!Number.isFinite(value) || Object.is(value, -0))) return { $number: String(value) };
  if (Array.isArray(value)) return value.map(toJson);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    // defineProperty keeps own "__proto__" keys (hostile maps carry them) without touching the prototype.
    for (const [key, member] of Object.entries(value)) {
      Object.defineProperty(out, key.startsWith('$') ? `$$${key}` : key, { value: toJson(member), enumerable: true, configurable: true, writable: true });
    }
    return out;
  }
  return value;
}

export function fromJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(fromJson);
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record);
    if (keys.length === 1 && typeof record.$hex === 'string') return fromHexString(record.$hex);
    if (keys.length === 1 && record.$undefined === true) return undefined;
    if (keys.length === 1 && typeof record.$bigint === 'string') return BigInt(record.$bigint);
    if (keys.length === 1 && typeof record.$number === 'string') return record.$number === '-0' ? -0 : Number(record.$number);
    const out: Record<string, unknown> = {};
    for (const key of keys) {
      const name = key.startsWith('$$') ? key.slice(2) : key;
      Object.defineProperty(out, name, { value: fromJson(record[key]), enumerable: true, configurable: true, writable: true });
    }
    return out;
  }
  return value;
}

export function fromHexString(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || /[^0-9a-fA-F]/.test(hex)) throw new Error(`not hex: ${hex.slice(0, 40)}`);
  const out = new Uint8Array(hex.length / 2);
  for (let index = 0; index < out.length; index++) out[index] = parseInt(hex.slice(2 * index, 2 * index + 2), 16);
  return out;
}

export { toHex };

/** Short printable form of a value for reports. */
export function show(value: unknown, limit = 2000): string {
  const text = JSON.stringify(toJson(value));
  return text.length > limit ? `${text.slice(0, limit)}...(${text.length} chars)` : text;
}

// ---------------------------------------------------------------------------------------------------------
// Secrets: private keys the harness knows, searched for as byte sequences (hex at even offsets).

export class KnownSecrets {
  private readonly keys = new Map<string, string>();

  add(bytes: Uint8Array, label: string): void {
    if (bytes.length < 16) return;
    this.keys.set(toHex(bytes), label);
  }

  merge(other: KnownSecrets): void {
    for (const [key, label] of other.keys) this.keys.set(key, label);
  }

  get size(): number {
    return this.keys.size;
  }

  /** The label of the first known secret found in `haystack` (hex), or undefined. */
  findIn(haystackHex: string): string | undefined {
    for (const [key, label] of this.keys) {
      let from = 0;
      for (;;) {
        const at = haystackHex.indexOf(key, from);
        if (at < 0) break;
        if (at % 2 === 0) return label;
        from = at + 1;
      }
    }
    return undefined;
  }

  /** Searches a JSON rendering (traces): hex in any case. */
  findInText(text: string): string | undefined {
    return this.findIn(text.toLowerCase());
  }
}

/** Lets queued setImmediate work (the scheduler's pump) run. */
export function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Parses "60s", "10m", "1500ms", "2h" or a bare number of seconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) throw new Error(`not a duration: ${text}`);
  const value = Number(match[1]);
  switch (match[2]) {
    case 'ms':
      return value;
    case 'm':
      return value * 60_000;
    case 'h':
      return value * 3_600_000;
    default:
      return value * 1000;
  }
}
