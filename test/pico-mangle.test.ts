/**
 * tools/pico-mangle.ts: only private members whose every use is `this.<name>` may be renamed in the Pico bundle.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { analysePrivateMembers, manglePattern } from '../tools/pico-mangle.js';

const directory = mkdtempSync(join(tmpdir(), 'pico-mangle-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(directory, name);
  writeFileSync(path, text);
  return path;
}

describe('analysePrivateMembers', () => {
  const project = file(
    'project.ts',
    `
    export class Store {
      private onlyThis = 1;
      private sharedWithLiteral = 2;
      private readByOther = 3;
      private quoted = 4;
      private fromDependency = 5;
      private buffer = new Uint8Array(1);
      constructor(private readonly parameterProperty: number) {}
      private helper(): number { return this.onlyThis + this.sharedWithLiteral + this.quoted + this.fromDependency + this.buffer.length + this.parameterProperty; }
      compare(other: Store): boolean { return other.readByOther === this.readByOther && this.helper() > 0; }
    }
    export const literal = { sharedWithLiteral: true };
    export const key = 'quoted';
    export function local(onlyThis: number): number { const helper = onlyThis; return helper; }
    `,
  );
  const dependency = file('dependency.js', 'export function f(x) { return x.fromDependency; }');
  const analysis = analysePrivateMembers([project], [dependency]);

  it('renames members used only through this (locals and parameters of the same name do not matter)', () => {
    expect(analysis.names).toEqual(['helper', 'onlyThis', 'parameterProperty']);
  });

  it('keeps every other name, with the reason', () => {
    expect(analysis.kept.get('sharedWithLiteral')).toMatch(/used as a property at project.ts:13/);
    expect(analysis.kept.get('readByOther')).toMatch(/used as a property/);
    expect(analysis.kept.get('quoted')).toBe('appears as a string literal');
    expect(analysis.kept.get('fromDependency')).toBe('appears in a bundled dependency');
    expect(analysis.kept.get('buffer')).toBe('is a property of a JavaScript built-in');
  });

  it('builds an anchored pattern, and one that matches nothing for no names', () => {
    const pattern = manglePattern(analysis.names);
    expect(pattern.test('helper')).toBe(true);
    expect(pattern.test('helpers')).toBe(false);
    expect(pattern.test('xhelper')).toBe(false);
    expect(manglePattern([]).test('')).toBe(false);
    expect(manglePattern([]).test('anything')).toBe(false);
  });
});
