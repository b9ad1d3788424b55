/**
 * Kaluma's BigInt division bug, reproduced for the simulation (docs: rp2040-kaluma.md): JerryScript's BigInt `/`
 * and `%` are off by one quotient when the remainder is small: about 2/3 of 256-bit divisions whose remainder is
 * below 2^192 come out with the quotient one too small (and the remainder one divisor too large).
 *
 * `rewriteDivisions(js)` parses a script with the TypeScript compiler API and rewrites every `a / b`, `a % b`,
 * `a /= b` and `a %= b` into calls of `__kalumaDiv` / `__kalumaMod`, which behave exactly like the operators for
 * numbers and for BigInts outside the bug's domain, and reproduce the bug inside it. The simulation defines them.
 */
import ts from 'typescript';
import { isScannerHazard } from '../../tools/build-pico.js';

const LIMIT = BigInt(1) << BigInt(192);
const WIDE = BigInt(1) << BigInt(128);

/** True when Kaluma's engine gets this division wrong (deterministic in a and b: 2 in 3 of the affected cases). */
export function kalumaDivisionIsWrong(a: bigint, b: bigint): boolean {
  if (b === BigInt(0)) return false;
  const magnitudeA = a < BigInt(0) ? -a : a;
  const magnitudeB = b < BigInt(0) ? -b : b;
  if (magnitudeA < WIDE || magnitudeB < BigInt(2) ** BigInt(32)) return false;
  const remainder = magnitudeA % magnitudeB;
  if (remainder >= LIMIT) return false;
  return Number((magnitudeA ^ magnitudeB) & BigInt(0xff)) % 3 !== 0;
}

export function kalumaDiv(a: unknown, b: unknown): unknown {
  if (typeof a === 'bigint' && typeof b === 'bigint') {
    const quotient = a / b;
    if (!kalumaDivisionIsWrong(a, b)) return quotient;
    return (a < BigInt(0)) !== (b < BigInt(0)) ? quotient + BigInt(1) : quotient - BigInt(1);
  }
  return (a as number) / (b as number);
}

export function kalumaMod(a: unknown, b: unknown): unknown {
  if (typeof a === 'bigint' && typeof b === 'bigint') {
    const remainder = a % b;
    if (!kalumaDivisionIsWrong(a, b)) return remainder;
    const magnitudeB = b < BigInt(0) ? -b : b;
    return a < BigInt(0) ? remainder - magnitudeB : remainder + magnitudeB;
  }
  return (a as number) % (b as number);
}

/** Rewrites every division and remainder of a script into the bug-reproducing helpers. */
export function rewriteDivisions(source: string): { code: string; rewritten: number } {
  const file = ts.createSourceFile('bundle.js', source, ts.ScriptTarget.ES2020, true, ts.ScriptKind.JS);
  let rewritten = 0;
  const transformer: ts.TransformerFactory<ts.SourceFile> = (context) => {
    const { factory } = context;
    const visit = (node: ts.Node): ts.Node => {
      const visited = ts.visitEachChild(node, visit, context);
      if (!ts.isBinaryExpression(visited)) return visited;
      const operator = visited.operatorToken.kind;
      const helper =
        operator === ts.SyntaxKind.SlashToken || operator === ts.SyntaxKind.SlashEqualsToken
          ? '__kalumaDiv'
          : operator === ts.SyntaxKind.PercentToken || operator === ts.SyntaxKind.PercentEqualsToken
            ? '__kalumaMod'
            : undefined;
      if (!helper) return visited;
      rewritten++;
      const call = factory.createCallExpression(factory.createIdentifier(helper), undefined, [visited.left, visited.right]);
      if (operator === ts.SyntaxKind.SlashEqualsToken || operator === ts.SyntaxKind.PercentEqualsToken) {
        return factory.createParenthesizedExpression(factory.createAssignment(visited.left, call));
      }
      return factory.createParenthesizedExpression(call);
    };
    return (sourceFile) => ts.visitNode(sourceFile, visit) as ts.SourceFile;
  };
  const result = ts.transform(file, [transformer]);
  const code = ts.createPrinter({ removeComments: true }).printFile(result.transformed[0]);
  result.dispose();
  return { code, rewritten };
}

/** Syntax Kaluma's JerryScript rejects, found by scanning the script's tokens (strings and comments excluded). */
export function unsupportedSyntax(source: string): string[] {
  const found = new Set<string>();
  const names: Partial<Record<ts.SyntaxKind, string>> = {
    [ts.SyntaxKind.QuestionDotToken]: 'optional chaining ?.',
    [ts.SyntaxKind.QuestionQuestionEqualsToken]: '??=',
    [ts.SyntaxKind.BarBarEqualsToken]: '||=',
    [ts.SyntaxKind.AmpersandAmpersandEqualsToken]: '&&=',
    [ts.SyntaxKind.PrivateIdentifier]: '#private',
  };
  const file = ts.createSourceFile('bundle.js', source, ts.ScriptTarget.Latest, true, ts.ScriptKind.JS);
  const walk = (node: ts.Node): void => {
    if (ts.isClassStaticBlockDeclaration(node)) found.add('static block');
    if (ts.isRegularExpressionLiteral(node) && /\(\?<[=!]|\(\?<[A-Za-z]/.test(node.text)) found.add('regex lookbehind / named group');
    if (ts.isPrivateIdentifier(node)) found.add('#private');
    if (ts.isPropertyAccessChain(node) || ts.isElementAccessChain(node) || ts.isCallChain(node)) found.add('optional chaining ?.');
    if (ts.isBinaryExpression(node) && names[node.operatorToken.kind]) found.add(names[node.operatorToken.kind] as string);
    if (isScannerHazard(node)) found.add('arrow or async function as a bare property value or array element (JerryScript 2.4 pre-scanner bug)');
    ts.forEachChild(node, walk);
  };
  walk(file);
  return [...found];
}
