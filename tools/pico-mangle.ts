/**
 * Which TypeScript `private` members the Pico build may rename (esbuild's `mangleProps`), proven from the sources.
 *
 * The device bundle is source text parsed into Kaluma's 180 KB heap, and long member names (`this.pendingReplies`)
 * are a good part of it: esbuild shortens locals but never properties. A private member can be renamed safely
 * when the renaming cannot reach anything but that member, so a name qualifies only if:
 * - in the project's bundled sources, every use of it as a property is the private declaration itself or
 *   `this.<name>` (no `other.<name>`, no `{ name }` literal, destructuring, interface member, public member);
 * - it is not a string literal anywhere in those sources (`'name' in x`, `x['name']`, wire keys);
 * - it does not occur as a word in any bundled dependency (noble, ...), whose property names stay as they are;
 * - it is not a property of a JavaScript built-in (Uint8Array's `buffer`, Map's `size`, ...).
 * Anything else keeps its name. esbuild renames the chosen names consistently across the whole bundle and picks
 * replacements that collide with no other property. test/pico-compat.test.ts runs the renamed bundle end to end.
 */
import { readFileSync } from 'node:fs';
import ts from 'typescript';

const BUILT_IN_PROTOTYPES: readonly object[] = [
  Object.prototype,
  Function.prototype,
  Array.prototype,
  Uint8Array.prototype,
  Object.getPrototypeOf(Uint8Array.prototype) as object,
  ArrayBuffer.prototype,
  DataView.prototype,
  Map.prototype,
  Set.prototype,
  WeakMap.prototype,
  Promise.prototype,
  Error.prototype,
  String.prototype,
  Number.prototype,
  BigInt.prototype,
  Date.prototype,
  RegExp.prototype,
  Symbol.prototype,
  Math,
  JSON,
  Object,
  Array,
  Promise,
  Number,
];

function isBuiltInProperty(name: string): boolean {
  return BUILT_IN_PROTOTYPES.some((prototype) => name in prototype);
}

function hasPrivateModifier(node: ts.Node): boolean {
  return ts.canHaveModifiers(node) && (ts.getModifiers(node) ?? []).some((modifier) => modifier.kind === ts.SyntaxKind.PrivateKeyword);
}

/** True when `identifier` names a property (not a variable): the positions a property renaming would touch. */
function isPropertyPosition(identifier: ts.Identifier): boolean {
  const parent = identifier.parent;
  if (ts.isPropertyAccessExpression(parent)) return parent.name === identifier;
  if (ts.isBindingElement(parent)) return parent.propertyName === identifier || (parent.propertyName === undefined && ts.isObjectBindingPattern(parent.parent));
  if (ts.isParameter(parent)) return parent.name === identifier && ts.isParameterPropertyDeclaration(parent, parent.parent);
  if (
    ts.isPropertyAssignment(parent) ||
    ts.isShorthandPropertyAssignment(parent) ||
    ts.isMethodDeclaration(parent) ||
    ts.isPropertyDeclaration(parent) ||
    ts.isGetAccessorDeclaration(parent) ||
    ts.isSetAccessorDeclaration(parent) ||
    ts.isPropertySignature(parent) ||
    ts.isMethodSignature(parent) ||
    ts.isEnumMember(parent)
  ) {
    return parent.name === identifier;
  }
  return false;
}

export interface MangleAnalysis {
  /** Private member names that may be renamed, sorted. */
  readonly names: readonly string[];
  /** Private member names that must keep their names, with the first reason found. */
  readonly kept: ReadonlyMap<string, string>;
}

/**
 * `projectFiles`: the project's TypeScript sources in the bundle; `dependencyFiles`: every other bundled file.
 */
export function analysePrivateMembers(projectFiles: readonly string[], dependencyFiles: readonly string[]): MangleAnalysis {
  const privates = new Set<string>();
  const kept = new Map<string, string>();
  const strings = new Set<string>();
  const keep = (name: string, reason: string): void => {
    if (!kept.has(name)) kept.set(name, reason);
  };
  const otherUses: { name: string; where: string }[] = [];

  for (const file of projectFiles) {
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
    const visit = (node: ts.Node): void => {
      if (ts.isStringLiteralLike(node) || ts.isTemplateHead(node) || ts.isTemplateMiddle(node) || ts.isTemplateTail(node)) strings.add(node.text);
      if (ts.isIdentifier(node) && isPropertyPosition(node)) {
        const parent = node.parent;
        const isPrivateDeclaration =
          (ts.isPropertyDeclaration(parent) || ts.isMethodDeclaration(parent) || ts.isGetAccessorDeclaration(parent) || ts.isSetAccessorDeclaration(parent) || ts.isParameter(parent)) &&
          hasPrivateModifier(parent);
        const isThisAccess = ts.isPropertyAccessExpression(parent) && parent.expression.kind === ts.SyntaxKind.ThisKeyword;
        if (isPrivateDeclaration) privates.add(node.text);
        else if (!isThisAccess) {
          const { line } = source.getLineAndCharacterOfPosition(node.getStart());
          otherUses.push({ name: node.text, where: `${file.slice(file.lastIndexOf('/') + 1)}:${line + 1}` });
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }

  for (const use of otherUses) if (privates.has(use.name)) keep(use.name, `used as a property at ${use.where}`);
  const dependencyWords = new Set<string>();
  for (const file of dependencyFiles) for (const word of readFileSync(file, 'utf8').match(/[A-Za-z_$][\w$]*/g) ?? []) dependencyWords.add(word);
  for (const name of privates) {
    if (strings.has(name)) keep(name, 'appears as a string literal');
    else if (dependencyWords.has(name)) keep(name, 'appears in a bundled dependency');
    else if (isBuiltInProperty(name)) keep(name, 'is a property of a JavaScript built-in');
  }
  const names = [...privates].filter((name) => !kept.has(name)).sort();
  return { names, kept };
}

/** The esbuild `mangleProps` pattern for exactly these names (never matches when there are none). */
export function manglePattern(names: readonly string[]): RegExp {
  return names.length === 0 ? /^(?!)$/ : new RegExp(`^(?:${names.join('|')})$`);
}
