/**
 * Crypto engine benchmark: operations per second and median microseconds per operation, for each engine that
 * implements the operation (RSA: node only).
 *
 *   npx tsx tools/bench-crypto.ts [--time MS]
 *
 * Each operation warms up, then runs for --time milliseconds (default 1000), timing every call. Prints a table
 * and one JSON line ({"bench":"crypto",...}) for scripts.
 */
import { randomBytes } from 'node:crypto';
import { nodeEngine } from '../hal/crypto/node.js';
import { portableEngine } from '../hal/crypto/portable.js';
import { ecSeedLength, type CryptoEngine, type CurveName } from '../hal/crypto/types.js';

interface Result {
  readonly operation: string;
  readonly engine: string;
  readonly opsPerSecond: number;
  readonly medianMicroseconds: number;
  readonly runs: number;
}

type Operation = () => unknown;

const WARMUP_RUNS = 5;
const MIN_RUNS = 5;

function parseTime(argv: readonly string[]): number {
  const index = argv.indexOf('--time');
  const value = index >= 0 ? Number(argv[index + 1]) : 1000;
  if (!Number.isFinite(value) || value <= 0) throw new Error('--time takes a positive number of milliseconds');
  return value;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

/** Runs `operation` for about `budget` ms (at least MIN_RUNS times) and summarises the timings. */
function measure(operation: string, engine: string, run: Operation, budget: number): Result {
  for (let index = 0; index < WARMUP_RUNS; index++) run();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < MIN_RUNS || performance.now() - start < budget) {
    const before = performance.now();
    run();
    times.push((performance.now() - before) * 1000);
  }
  const total = times.reduce((sum, time) => sum + time, 0);
  return { operation, engine, opsPerSecond: (times.length * 1e6) / total, medianMicroseconds: median(times), runs: times.length };
}

/** The EC operations for one engine: sign over a SHA-256/384 hash, and ECDH. */
function ecOperations(engine: CryptoEngine): [string, Operation][] {
  const operations: [string, Operation][] = [];
  const pair = (curve: CurveName): { privateKey: Uint8Array; publicKey: Uint8Array } => engine.ecGenerate(curve, randomBytes(ecSeedLength(curve)));
  const p256 = pair('secp256r1');
  const p384 = pair('secp384r1');
  const peer = pair('secp256r1');
  const hash256 = randomBytes(32);
  const hash384 = randomBytes(48);
  const signature = engine.ecSign('secp256r1', p256.privateKey, hash256);
  operations.push(['ECDSA P-256 sign', () => engine.ecSign('secp256r1', p256.privateKey, hash256)]);
  operations.push(['ECDSA P-256 verify', () => engine.ecVerify('secp256r1', p256.publicKey, hash256, signature)]);
  operations.push(['ECDSA P-384 sign', () => engine.ecSign('secp384r1', p384.privateKey, hash384)]);
  operations.push(['ECDH P-256', () => engine.ecdh('secp256r1', p256.privateKey, peer.publicKey)]);
  return operations;
}

/** AES-GCM over 1 KiB and PBKDF2-HMAC-SHA256 with 10,000 iterations. */
function symmetricOperations(engine: CryptoEngine): [string, Operation][] {
  const operations: [string, Operation][] = [];
  const aes = engine.aes;
  if (aes) {
    const [key, iv, data, aad] = [randomBytes(32), randomBytes(12), randomBytes(1024), randomBytes(16)];
    operations.push(['AES-256-GCM seal 1 KiB', () => aes.gcmSeal(key, iv, data, aad)]);
  }
  const [password, salt] = [randomBytes(8), randomBytes(16)];
  operations.push(['PBKDF2-SHA256 10,000 iterations', () => engine.pbkdf2Sha256(password, salt, 10_000, 32)]);
  return operations;
}

/** RSA-2048 private-key operations (node engine), on a freshly generated key. */
async function rsaOperations(engine: CryptoEngine): Promise<[string, Operation][]> {
  const rsa = engine.rsa;
  if (!rsa) return [];
  const pair = await rsa.generate(2048, 65537);
  const digest = engine.digest('sha256', randomBytes(100));
  const oaep = rsa.encryptOaep(pair.modulus, pair.publicExponent, 'sha256', randomBytes(32));
  const pkcs1 = rsa.encryptPkcs1(pair.modulus, pair.publicExponent, randomBytes(32));
  return [
    ['RSA-2048 sign PKCS#1 v1.5', () => rsa.signPkcs1(pair.privateKey, 'sha256', digest)],
    ['RSA-2048 sign PSS', () => rsa.signPss(pair.privateKey, 'sha256', digest, 32)],
    ['RSA-2048 decrypt OAEP', () => rsa.decryptOaep(pair.privateKey, 'sha256', oaep)],
    ['RSA-2048 decrypt PKCS#1 v1.5', () => rsa.decryptPkcs1(pair.privateKey, pkcs1)],
  ];
}

function printTable(results: readonly Result[]): void {
  const rows = results.map((result) => [
    result.operation,
    result.engine,
    result.opsPerSecond.toFixed(result.opsPerSecond < 100 ? 1 : 0),
    result.medianMicroseconds.toFixed(1),
    String(result.runs),
  ]);
  const header = ['operation', 'engine', 'ops/s', 'median µs', 'runs'];
  const widths = header.map((_, column) => Math.max(...[header, ...rows].map((row) => (row[column] ?? '').length)));
  for (const row of [header, ...rows]) console.log(row.map((cell, column) => (column >= 2 ? cell.padStart(widths[column] ?? 0) : cell.padEnd(widths[column] ?? 0))).join('  '));
}

async function main(): Promise<void> {
  const budget = parseTime(process.argv.slice(2));
  const results: Result[] = [];
  for (const engine of [nodeEngine, portableEngine]) {
    const operations = [...ecOperations(engine), ...symmetricOperations(engine), ...(await rsaOperations(engine))];
    for (const [name, run] of operations) results.push(measure(name, engine.name, run, budget));
  }
  results.sort((a, b) => a.operation.localeCompare(b.operation) || a.engine.localeCompare(b.engine));
  printTable(results);
  console.log(JSON.stringify({ bench: 'crypto', node: process.version, budgetMs: budget, results }));
}

await main();
