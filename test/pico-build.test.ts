/**
 * tools/build-pico.ts's workaround for JerryScript 2.4's pre-scanner bug (Kaluma 1.2.1's engine): a bare-parameter
 * arrow, an async arrow or an async function expression as a property value or array element of a literal makes it
 * reject a valid script. The failing and passing forms are the ones measured on Kaluma's engine.
 */
import { describe, expect, it } from 'vitest';
import { literalFunctionsParenthesised } from '../tools/build-pico.js';
import { unsupportedSyntax } from './kaluma-sim/bigint-bug.js';

const HAZARD = 'arrow or async function as a bare property value or array element (JerryScript 2.4 pre-scanner bug)';

describe('literal functions are parenthesised for JerryScript', () => {
  it.each([
    ['x=({a:e=>1})', 'x=({a:(e=>1)})'],
    ['x=({a:async()=>1})', 'x=({a:(async()=>1)})'],
    ['s=>({handlers:{f:async a=>{}}})', 's=>({handlers:{f:(async a=>{})}})'],
    ['(u="s",{run:e=>o()})', '(u="s",{run:(e=>o())})'],
    ['x=[e=>1,async function(){}]', 'x=[(e=>1),(async function(){})]'],
    ['x=({a:e=>({b:f=>2})})', 'x=({a:(e=>({b:(f=>2)}))})'],
  ])('%s becomes %s, which the syntax check accepts', (source, expected) => {
    expect(unsupportedSyntax(source)).toContain(HAZARD);
    const { code, wrapped } = literalFunctionsParenthesised(source);
    expect(code).toBe(expected);
    expect(wrapped).toBeGreaterThan(0);
    expect(unsupportedSyntax(code)).toEqual([]);
    // Same program: parentheses around an expression change nothing.
    expect(() => new Function(code)).not.toThrow();
  });

  it('leaves alone what the engine parses: parenthesised, call arguments, plain functions, assignments', () => {
    for (const source of ['x=({a:(e)=>1})', 'f({a:1},e=>1)', 'x=({a:function(){}})', 'x=e=>1', 'x={a:1}']) {
      expect(literalFunctionsParenthesised(source)).toEqual({ code: source, wrapped: 0 });
    }
  });
});
