/**
 * Power-on self-tests: known-answer tests (KATs) for every algorithm a crypto engine offers, on every board.
 * A failed algorithm is taken out of the engine (narrowEngine) and listed in the report the device info
 * carries, so a broken runtime (Kaluma's BigInt division bug, docs: rp2040-kaluma.md) disables what it
 * breaks instead of producing wrong signatures or ciphertexts.
 *
 * Algorithms and their tests (each independent; one failure disables only that algorithm):
 * - `sha1` ... `sha512`: the FIPS 180 "abc" digests.
 * - `hmac-sha1` ... `hmac-sha512`: RFC 2202 / RFC 4231 test case 2 ("Jefe").
 * - `pbkdf2-sha256`: "password" / "salt", 2 iterations, 32 bytes (the RFC 7914 / RFC 6070-style vector).
 * - `hkdf-sha256`: RFC 5869 test case 1.
 * - `chacha20-poly1305`: RFC 8439 2.8.2 seal; open; a forged tag refused.
 * - each curve in `engine.curves` (named by the curve): key generation from a fixed seed (the reduction of
 *   the seed modulo the order included) and its public key, an RFC 6979 deterministic ECDSA signature of
 *   SHA-256("sample"), verification of it and refusal of r = s = 0, ECDH of the key with its own public
 *   key (x of d^2 G), and refusal of an off-curve peer point. Expected values were computed with the portable
 *   engine (@noble/curves) and are cross-checked against OpenSSL in test/self-test.test.ts; for secp256r1
 *   the RFC 6979 A.2.5 vector itself is checked in test/p256-safe.test.ts.
 * - `rsa` (where offered): a fixed 512-bit key (small on purpose: a test key, not a secret) - raw private
 *   operation, PKCS#1 v1.5 and PSS (salt 0, deterministic) signatures and their verification, PKCS#1 v1.5
 *   and OAEP-SHA1 decryption of fixed ciphertexts, encryption round trips. Key generation is not tested
 *   (asynchronous, seconds). Expected values come from node:crypto, cross-checked in the test.
 * - `aes` (where offered): FIPS-197 C.1 and C.3 (one block through CBC with a zero IV, both directions),
 *   SP 800-38A F.5.1 (CTR), GCM test case 2 of McGrew-Viega (seal, open, forged tag), RFC 4493 example 2.
 *
 * Runs on Kaluma too: no Buffer, no TextEncoder, no `?.`, no logical assignment, no `.at()`.
 */
import { ecSeedLength, type CryptoEngine, type CurveName, type HashName } from './types.js';

export interface SelfTestFailure {
  readonly algorithm: string;
  readonly detail: string;
}

export interface SelfTestReport {
  readonly engine: string;
  /** Algorithms whose known-answer tests passed, in test order. */
  readonly passed: string[];
  readonly failed: SelfTestFailure[];
}

// ---------------------------------------------------------------------------------------------------------
// Helpers

function fromHex(text: string): Uint8Array {
  const out = new Uint8Array(text.length >> 1);
  for (let index = 0; index < out.length; index++) out[index] = parseInt(text.substr(index * 2, 2), 16);
  return out;
}

function ascii(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let index = 0; index < text.length; index++) out[index] = text.charCodeAt(index);
  return out;
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  if (a === undefined || a.length !== b.length) return false;
  let difference = 0;
  for (let index = 0; index < a.length; index++) difference |= (a[index] as number) ^ (b[index] as number);
  return difference === 0;
}

/** Throws `label` unless `actual` equals the expected hex. */
function expectBytes(label: string, actual: Uint8Array | undefined, expectedHex: string): void {
  if (!(actual instanceof Uint8Array)) throw new Error(`${label}: no result`);
  if (!sameBytes(actual, fromHex(expectedHex))) throw new Error(`${label}: wrong result`);
}

function expectTrue(label: string, value: boolean): void {
  if (value !== true) throw new Error(label);
}

function expectThrows(label: string, operation: () => unknown): void {
  let threw = false;
  try {
    operation();
  } catch {
    threw = true;
  }
  if (!threw) throw new Error(label);
}

/** A copy with one bit flipped. */
function flipped(bytes: Uint8Array, index: number): Uint8Array {
  const copy = new Uint8Array(bytes);
  copy[index] = (copy[index] as number) ^ 1;
  return copy;
}

// ---------------------------------------------------------------------------------------------------------
// Vectors

const HASHES: readonly HashName[] = ['sha1', 'sha224', 'sha256', 'sha384', 'sha512'];

/** FIPS 180-4 examples: the digest of "abc". */
const DIGEST_ABC: Readonly<Record<HashName, string>> = {
  sha1: 'a9993e364706816aba3e25717850c26c9cd0d89d',
  sha224: '23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7',
  sha256: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
  sha384: 'cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7',
  sha512: 'ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f',
};

/** RFC 2202 / RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?". */
const HMAC_JEFE: Readonly<Record<HashName, string>> = {
  sha1: 'effcdf6ae5eb2fa2d27416d5f184df9c259a7c79',
  sha224: 'a30e01098bc6dbbf45690f3a7e9e6d0f8bbea2a39e6148008fd05e44',
  sha256: '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
  sha384: 'af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649',
  sha512: '164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737',
};

const PBKDF2_PASSWORD_SALT_2 = 'ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43';
const HKDF_RFC5869_1 = '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865';

const CHACHA_PLAINTEXT = "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
const CHACHA_SEALED =
  'd31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36' +
  '92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116' +
  '1ae10b594f09e26a7e902ecbd0600691';

/** SHA-256("sample"), the RFC 6979 A.2 message hash: every curve signs it. */
const EC_HASH = 'af2bdbe1aa9b6ec1e2ade1d694f41fc71a831d0268e9891562113d8a62add1bf';

interface EcVector {
  /** The public key of the key generated from the fixed seed (ecSeed). */
  readonly publicKey: string;
  /** r || s over EC_HASH. */
  readonly signature: string;
  /** x of d * publicKey. */
  readonly shared: string;
}

const EC_VECTORS: Readonly<Record<CurveName, EcVector>> = {
  secp256r1: {
    publicKey: '04238707ac97fd88ef31673f52031717e9d7097c586ef3d630adb554c3ecbe226fe33f6107817c2f4c1e41a5ee032cbf210d05088c2068da0a5dbc31dd273eb30a',
    signature: 'cae7839b938e581e181c4132549471cc2f127270f350a5b5394a11340fe550fd715ac3433c6e416ee07bc154ce89ae621eb46062eb5348fce1c8f90285c9e433',
    shared: '9f48a512f08caff8708a0a31c7ab649a9a97f1789ca26fdaaa92af1b6a43a62f',
  },
  secp384r1: {
    publicKey:
      '0440c3941a26d3c886c13a59153d4bb52df16b37d4e66a7329ba1a44ba82a9b30d6934c8112154190a561377e6a18a4eecc6' +
      '828d46ada2c9649e2e3cf87c966e88fbdfc9d15ff08f018944143225370bb376a28114cef8d57ae8b813db2aee9449',
    signature:
      '8df9a2274c38a6817ee95e1530819c51a4eafb71543c6afe5d8485984189e53b1472841571ef45cb77fb99b7573f0289' +
      'e5b4fc8521374ad85e77a576f82dce4ec05ac17019f7e9a9f9d8891162b852920b8cdfdec53c87f68e8b2cddd70d935c',
    shared: 'd5c4e8345fab2d6c2d38a2d62b943afea844edf7aa899aa14005c58010d7ab3ed840de13d4ef8d646fbdfd13a722ce53',
  },
  secp521r1: {
    publicKey:
      '040055167409d5ab9d56c2fd6a7312b3740f93bc97ab5c4f8c0ca27d8aade5721d3afd37c9bcf59012cf439ff516c57c9d6b59a63d5f94c4bb674488fbefcccdea0161' +
      '00dc1972e00541831f81e8f5783d0e491d98bcda69e0144b169305b7141a3bc8764dee2c945cdfc9dbe59c79ac033c4dc19bd018d66d3c21486e714fefd5aa97a168',
    signature:
      '0049b3b3f94da4eadd619289632e5f2ce537da9f237fbef07c22dd3b6408bcc582e34e81515a781772d4fa285efcf588e1af4addafc86133ac10ded0f6c510995f79' +
      '0051f0182ac14f4d6975f8872e06a8875f976a7f98967519e28e5bf721ffde60f3a9926c550c84daebc17804776bf2ea4699f62ecd1233944e46c048ad8edc6e0096',
    shared: '003f177160cdde2d832b2451a4f4f23f6270f1731f9310d01ebdf664d16f2a7df414a21d696e12a6c1f1e7d3c9ff31a45bf8e1f7edb2c0e042355252aa6db3418b82',
  },
  secp256k1: {
    publicKey: '0441808a689e5ccc47185c973dbe6440c499f27d8276fc75b74b9b50811bcd9d4bd7a7a290fd695742ded3a713b572f75592a1bf4aae39ade369166d91bdc082a7',
    signature: 'eb77087c1556fea638fcbffc938875f774886b229581bbcac91e341b122641146a1582499a7579c05e0d1111d1e3fa5f10bd2dabacc46302f33aa6a3974711c3',
    shared: '4250f14b05f016cd3ad6276393c073f4b4fb677d0fff78f06964c358a9d0f1cb',
  },
  brainpoolP256r1: {
    publicKey: '047b8310b1483982335120686045c8fc50bca1f531cfad0c893d7a2e60e76093744669ca932b1d4b8f520107b25de02c8a3914171d85e6e546dd46406642990cd4',
    signature: '1bf7e23331de82310aa4580c67daf337975491a8e22e046247e15d6b3d0842257b3aa804a8120cd46219457569ab2f4448224153435591554eda47db20a01479',
    shared: '53bf74998ac2eb83f6984befcf8aef6386ef649e2ebf7612baf39659ad56fc9e',
  },
  brainpoolP384r1: {
    publicKey:
      '0422934fed5bc9fd9a600f3a2e756f5ea8c23d8333d31bb64076c7174daa18c57d701a9b5d855ddcf9b22c6fc68cc7ee586f6c11c8be985d8df41961f1ede7c7223a' +
      '081e1a92ba3ff51247f6b8dca8bde5889066890986dd2ccb760e400faffe7a',
    signature:
      '6cc7b77e6d843c556086b697c1549aaede2630e2426cdbabc51f4c2c737509ea2861c6b82d1661dd179cba4f32cee3fd' +
      '25f7b3c01a163333b80881c74a6d73a8f3dd69d4214d5d646a8e67094f7c0d631ca973c4e6d213d7a126b61e4c074401',
    shared: '1063fba739d25d8bc6c888bb7fb6ddc78c7479aa0acacd69e555262ca7cb9bcc3ea326fe1ad00c509879ac1410fe8c6b',
  },
  brainpoolP512r1: {
    publicKey:
      '044f57a5c38b533c622417fd9b18be7883c24bcea57bbe744cb9f7e581cb52de400e42a248e3f2983be4ec9f8edcc9b308562834543755fd3628a913e0462de7a4' +
      '4498394dabd5f7cf109c14ecbf23b4df37ff85ffe05749391e532981cc94e44799541aafd8d39ecba9c717d7fb3642fe83868ba14c78fc9607bb9fa74d8c2d7f',
    signature:
      '544d2809c237cf0bc4cf9ef6c0be4e6da7ccd821f3535b6f72db796d719bf435b9b320e08e7754dfe38b6904d8353e69f0b7dc0cdd9bf584feeb916801b2675f' +
      '588121d9ce8ae1e2c015afe859f2d4cf58d421865e313df5772e2daf003160b7d8df3517b3868e5d051e3a745de125cda9f714710d089640378dfe92618cd77b',
    shared: '772c86686bfa3d75155ee1db0825f1aadc24b9eef329586ac4ae7fa4add29b998e5670066f0f5c829357764d76ada9ed0af147a8cc084cdfdbe7fc120a3504ae',
  },
};

/** The fixed key-generation seed of a curve: ecSeedLength(curve) bytes 0xa5 ^ (29 i). */
export function ecSelfTestSeed(curve: CurveName): Uint8Array {
  const seed = new Uint8Array(ecSeedLength(curve));
  for (let index = 0; index < seed.length; index++) seed[index] = (0xa5 ^ (index * 29)) & 0xff;
  return seed;
}

/** A fixed 512-bit RSA test key (PKCS#8) with e = 65537: a published test key, never a secret. */
const RSA_PRIVATE_KEY =
  '30820156020100300d06092a864886f70d0101010500048201403082013c020100024100c159dc08c92a34efc45b4041e5b53cd352833a85f031e609883ec4d2' +
  '91670ff9439cccc0e7006c7b505fb0e1bcefe0a1df3b599e3426ebdef8106a994fb538b9020301000102407406574a9264987594cfe94461f29af8789834e330da' +
  'd09ec1ba60e3b6cb30c2a8e93b1ec894102ecb521a45a80322d36d4be55d5dafb85a523120cbbd68960d022100ed162eb40fb9f81f425e1b206d7aff5b7fa199e0' +
  '757cbb7c755d2f7aa4d44edf022100d0c6806b31208d1716ecc6d4fc9fce091c8ce6c1efc3fc699a35a7e3659f2367022100a2924266301e7a789cdec0c524ad61' +
  'aad142f3ac0984055fdb6e919f0ca5948b022100b5912cf60c4fa6e4c1c74254d12f99dc4abc2fa3d285bbeb8b75c680f94c2159022100cfaed83e4e5fe8624e2b' +
  'b1706e4d3b81800e46e29961f8ef18a1054b320690bc';
const RSA_MODULUS =
  'c159dc08c92a34efc45b4041e5b53cd352833a85f031e609883ec4d291670ff9439cccc0e7006c7b505fb0e1bcefe0a1df3b599e3426ebdef8106a994fb538b9';
/** m^d for m = 00 01 02 ... 3f. */
const RSA_RAW =
  '1dd9f5d880e297659706b6a716ce46112793e52baa05670756a481c8c4b7d8b7df66ded003b25d4c2c0f392ee269ddb3eba4dcd1bda7fbddf55a85dee073e577';
/** PKCS#1 v1.5 and PSS (salt length 0) signatures of the SHA-256 digest of "abc". */
const RSA_PKCS1_SIGNATURE =
  '42823a50fa35f4473d55bbc6dd5c422cd8edb344626364a2cd821da813a9fc4731491db82561f7c22e603ec56e54f81dda88cfd31ee12c29adc5deb1ef6b0f34';
const RSA_PSS_SIGNATURE =
  '13a2446aac708aface4c520ad2a36e98fcbb265a291951e912c7ff3b791e4a5d5f13d50645d272b7fd8d84b06c779b00d3fd2262eaafb487f1a0f2246ddae067';
/** "self-test" encrypted with PKCS#1 v1.5 and with OAEP (SHA-1, no label). */
const RSA_PKCS1_CIPHERTEXT =
  '01c9fc8d065be35a13637f059e123a3aa74165bafdb4bc1291cf6c7e1cd1a3dad85851eea2a28eda1ce5f0384bfb640e62c39882f7165168c5be61525ed250c1';
const RSA_OAEP_CIPHERTEXT =
  'c0331ffafa8485af9bae35cc70c82a3e3ed7d36fb3438700b37af09b842a4ce33fcd0acdb9c7afa8eb06784f6db5cb7678762352355751a12fbefbe18e1e9f7c';

// ---------------------------------------------------------------------------------------------------------
// Tests

function testDigest(engine: CryptoEngine, hash: HashName): void {
  expectBytes('digest', engine.digest(hash, ascii('abc')), DIGEST_ABC[hash]);
}

function testHmac(engine: CryptoEngine, hash: HashName): void {
  expectBytes('hmac', engine.hmac(hash, ascii('Jefe'), ascii('what do ya want for nothing?')), HMAC_JEFE[hash]);
}

function testPbkdf2(engine: CryptoEngine): void {
  expectBytes('pbkdf2', engine.pbkdf2Sha256(ascii('password'), ascii('salt'), 2, 32), PBKDF2_PASSWORD_SALT_2);
}

function testHkdf(engine: CryptoEngine): void {
  const inputKey = new Uint8Array(22).fill(0x0b);
  const salt = fromHex('000102030405060708090a0b0c');
  const info = fromHex('f0f1f2f3f4f5f6f7f8f9');
  expectBytes('hkdf', engine.hkdfSha256(inputKey, salt, info, 42), HKDF_RFC5869_1);
}

function testAead(engine: CryptoEngine): void {
  const key = new Uint8Array(32);
  for (let index = 0; index < 32; index++) key[index] = 0x80 + index;
  const nonce = fromHex('070000004041424344454647');
  const associatedData = fromHex('50515253c0c1c2c3c4c5c6c7');
  const plaintext = ascii(CHACHA_PLAINTEXT);
  const sealed = engine.aeadSeal(key, nonce, plaintext, associatedData);
  expectBytes('seal', sealed, CHACHA_SEALED);
  expectTrue('open: wrong plaintext', sameBytes(engine.aeadOpen(key, nonce, sealed, associatedData), plaintext));
  expectTrue('open: forged tag accepted', engine.aeadOpen(key, nonce, flipped(sealed, sealed.length - 1), associatedData) === undefined);
}

function testCurve(engine: CryptoEngine, curve: CurveName): void {
  const vector = EC_VECTORS[curve];
  const { privateKey, publicKey } = engine.ecGenerate(curve, ecSelfTestSeed(curve));
  expectBytes('key generation', publicKey, vector.publicKey);
  const hash = fromHex(EC_HASH);
  const signature = engine.ecSign(curve, privateKey, hash);
  expectBytes('sign', signature, vector.signature);
  expectTrue('verify: valid signature refused', engine.ecVerify(curve, publicKey, hash, signature));
  // r = s = 0 (CVE-2022-21449): refused by the range checks, so it costs no scalar multiplication.
  expectTrue('verify: zero signature accepted', !engine.ecVerify(curve, publicKey, hash, new Uint8Array(signature.length)));
  expectBytes('ecdh', engine.ecdh(curve, privateKey, publicKey), vector.shared);
  expectThrows('ecdh: off-curve point accepted', () => engine.ecdh(curve, privateKey, flipped(publicKey, publicKey.length - 1)));
}

function testRsa(engine: CryptoEngine): void {
  const rsa = engine.rsa;
  if (rsa === undefined) return;
  const privateKey = fromHex(RSA_PRIVATE_KEY);
  const modulus = fromHex(RSA_MODULUS);
  const exponent = fromHex('010001');
  const input = new Uint8Array(64);
  for (let index = 0; index < 64; index++) input[index] = index;
  expectBytes('raw private operation', rsa.rawPrivate(privateKey, input), RSA_RAW);
  const digest = fromHex(DIGEST_ABC.sha256);
  const pkcs1 = rsa.signPkcs1(privateKey, 'sha256', digest);
  expectBytes('PKCS#1 v1.5 signature', pkcs1, RSA_PKCS1_SIGNATURE);
  expectTrue('PKCS#1 v1.5 verify: valid signature refused', rsa.verifyPkcs1(modulus, exponent, 'sha256', digest, pkcs1));
  expectTrue('PKCS#1 v1.5 verify: modified signature accepted', !rsa.verifyPkcs1(modulus, exponent, 'sha256', flipped(digest, 0), pkcs1));
  const pss = rsa.signPss(privateKey, 'sha256', digest, 0);
  expectBytes('PSS signature', pss, RSA_PSS_SIGNATURE);
  expectTrue('PSS verify: valid signature refused', rsa.verifyPss(modulus, exponent, 'sha256', digest, pss, 0));
  expectTrue('PSS verify: modified signature accepted', !rsa.verifyPss(modulus, exponent, 'sha256', flipped(digest, 0), pss, 0));
  const message = ascii('self-test');
  expectTrue('PKCS#1 v1.5 decryption', sameBytes(rsa.decryptPkcs1(privateKey, fromHex(RSA_PKCS1_CIPHERTEXT)), message));
  expectTrue('OAEP decryption', sameBytes(rsa.decryptOaep(privateKey, 'sha1', fromHex(RSA_OAEP_CIPHERTEXT)), message));
  expectTrue('PKCS#1 v1.5 round trip', sameBytes(rsa.decryptPkcs1(privateKey, rsa.encryptPkcs1(modulus, exponent, message)), message));
  expectTrue('OAEP round trip', sameBytes(rsa.decryptOaep(privateKey, 'sha1', rsa.encryptOaep(modulus, exponent, 'sha1', message)), message));
}

function testAes(engine: CryptoEngine): void {
  const aes = engine.aes;
  if (aes === undefined) return;
  const zeroIv = new Uint8Array(16);
  const block = fromHex('00112233445566778899aabbccddeeff');
  const key128 = fromHex('000102030405060708090a0b0c0d0e0f');
  const key256 = fromHex('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
  expectBytes('AES-128 (FIPS-197 C.1)', aes.cbcEncrypt(key128, zeroIv, block), '69c4e0d86a7b0430d8cdb78070b4c55a');
  expectBytes('AES-128 decryption', aes.cbcDecrypt(key128, zeroIv, fromHex('69c4e0d86a7b0430d8cdb78070b4c55a')), '00112233445566778899aabbccddeeff');
  expectBytes('AES-256 (FIPS-197 C.3)', aes.cbcEncrypt(key256, zeroIv, block), '8ea2b7ca516745bfeafc49904b496089');
  expectBytes('AES-256 decryption', aes.cbcDecrypt(key256, zeroIv, fromHex('8ea2b7ca516745bfeafc49904b496089')), '00112233445566778899aabbccddeeff');
  const spKey = fromHex('2b7e151628aed2a6abf7158809cf4f3c');
  const spBlock = fromHex('6bc1bee22e409f96e93d7e117393172a');
  expectBytes('CTR (SP 800-38A F.5.1)', aes.ctr(spKey, fromHex('f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff'), spBlock), '874d6191b620e3261bef6864990db6ce');
  const gcmKey = new Uint8Array(16);
  const gcmIv = new Uint8Array(12);
  const none = new Uint8Array(0);
  const sealed = aes.gcmSeal(gcmKey, gcmIv, new Uint8Array(16), none);
  expectBytes('GCM seal', sealed, '0388dace60b6a392f328c2b971b2fe78ab6e47d42cec13bdf53a67b21257bddf');
  expectTrue('GCM open', sameBytes(aes.gcmOpen(gcmKey, gcmIv, sealed, none), new Uint8Array(16)));
  expectTrue('GCM open: forged tag accepted', aes.gcmOpen(gcmKey, gcmIv, flipped(sealed, sealed.length - 1), none) === undefined);
  expectBytes('CMAC (RFC 4493 example 2)', aes.cmac(spKey, spBlock), '070a16b46b4d4144f79bdd9dd04a287c');
}

/** One algorithm's known-answer test: `run` throws (the engine's error, or a mismatch) when it fails. */
export interface SelfTestStep {
  readonly algorithm: string;
  run(): void;
}

/**
 * The known-answer tests the engine's algorithms call for, in order: all digests and HMACs, PBKDF2, HKDF,
 * ChaCha20-Poly1305, each curve in `engine.curves`, and RSA and AES where the engine offers them. A board
 * that must stay responsive (the Pico's watchdog, the host waiting) runs them one at a time with runSelfTestStep.
 */
export function selfTestSteps(engine: CryptoEngine): SelfTestStep[] {
  const steps: SelfTestStep[] = [];
  for (const hash of HASHES) steps.push({ algorithm: hash, run: () => testDigest(engine, hash) });
  for (const hash of HASHES) steps.push({ algorithm: `hmac-${hash}`, run: () => testHmac(engine, hash) });
  steps.push({ algorithm: 'pbkdf2-sha256', run: () => testPbkdf2(engine) });
  steps.push({ algorithm: 'hkdf-sha256', run: () => testHkdf(engine) });
  steps.push({ algorithm: 'chacha20-poly1305', run: () => testAead(engine) });
  for (const curve of engine.curves) steps.push({ algorithm: curve, run: () => testCurve(engine, curve) });
  if (engine.rsa !== undefined) steps.push({ algorithm: 'rsa', run: () => testRsa(engine) });
  if (engine.aes !== undefined) steps.push({ algorithm: 'aes', run: () => testAes(engine) });
  return steps;
}

/** Runs one step into the report: passed, or failed with the thrown message as the detail. */
export function runSelfTestStep(report: SelfTestReport, step: SelfTestStep): void {
  try {
    step.run();
    report.passed.push(step.algorithm);
  } catch (error) {
    report.failed.push({ algorithm: step.algorithm, detail: error instanceof Error ? error.message : String(error) });
  }
}

/** Runs every step of selfTestSteps(engine) at once (synchronously). */
export function runSelfTests(engine: CryptoEngine): SelfTestReport {
  const report: SelfTestReport = { engine: engine.name, passed: [], failed: [] };
  for (const step of selfTestSteps(engine)) runSelfTestStep(report, step);
  return report;
}

function disabled(algorithm: string): never {
  throw new Error(`${algorithm} is disabled: its power-on self-test failed`);
}

/**
 * The engine without the algorithms that failed: failed curves leave `curves` and their operations throw,
 * `rsa` / `aes` are absent, and a failed digest, HMAC, KDF or AEAD throws when called. The same engine when
 * nothing failed.
 */
export function narrowEngine(engine: CryptoEngine, report: SelfTestReport): CryptoEngine {
  const failed = new Set<string>();
  for (const failure of report.failed) failed.add(failure.algorithm);
  if (failed.size === 0) return engine;
  const check = (algorithm: string): void => {
    if (failed.has(algorithm)) disabled(algorithm);
  };
  const narrowed: CryptoEngine = {
    name: engine.name,
    curves: engine.curves.filter((curve) => !failed.has(curve)),
    digest(hash, data) {
      check(hash);
      return engine.digest(hash, data);
    },
    hmac(hash, key, data) {
      check(`hmac-${hash}`);
      return engine.hmac(hash, key, data);
    },
    pbkdf2Sha256(password, salt, iterations, length) {
      check('pbkdf2-sha256');
      return engine.pbkdf2Sha256(password, salt, iterations, length);
    },
    hkdfSha256(inputKey, salt, info, length) {
      check('hkdf-sha256');
      return engine.hkdfSha256(inputKey, salt, info, length);
    },
    aeadSeal(key, nonce, plaintext, associatedData) {
      check('chacha20-poly1305');
      return engine.aeadSeal(key, nonce, plaintext, associatedData);
    },
    aeadOpen(key, nonce, sealed, associatedData) {
      check('chacha20-poly1305');
      return engine.aeadOpen(key, nonce, sealed, associatedData);
    },
    ecGenerate(curve, randomness) {
      check(curve);
      return engine.ecGenerate(curve, randomness);
    },
    ecPublicKey(curve, privateKey) {
      check(curve);
      return engine.ecPublicKey(curve, privateKey);
    },
    ecSign(curve, privateKey, hash) {
      check(curve);
      return engine.ecSign(curve, privateKey, hash);
    },
    ecVerify(curve, publicKey, hash, signature) {
      check(curve);
      return engine.ecVerify(curve, publicKey, hash, signature);
    },
    ecdh(curve, privateKey, peerPublicKey) {
      check(curve);
      return engine.ecdh(curve, privateKey, peerPublicKey);
    },
  };
  const withOptional = narrowed as { rsa?: CryptoEngine['rsa']; aes?: CryptoEngine['aes'] };
  if (engine.rsa !== undefined && !failed.has('rsa')) withOptional.rsa = engine.rsa;
  if (engine.aes !== undefined && !failed.has('aes')) withOptional.aes = engine.aes;
  return narrowed;
}

/** Power-on: the self-tests, then the engine narrowed to what passed. */
export function selfTestedEngine(engine: CryptoEngine): { engine: CryptoEngine; report: SelfTestReport } {
  const report = runSelfTests(engine);
  return { engine: narrowEngine(engine, report), report };
}

/** The expected values, for tests that cross-check them against independent implementations. */
export const SELF_TEST_VECTORS = {
  digestAbc: DIGEST_ABC,
  hmacJefe: HMAC_JEFE,
  pbkdf2PasswordSalt2: PBKDF2_PASSWORD_SALT_2,
  hkdfRfc5869Case1: HKDF_RFC5869_1,
  chacha: { plaintext: CHACHA_PLAINTEXT, sealed: CHACHA_SEALED },
  ecHash: EC_HASH,
  ec: EC_VECTORS,
  rsa: {
    privateKey: RSA_PRIVATE_KEY,
    modulus: RSA_MODULUS,
    raw: RSA_RAW,
    pkcs1Signature: RSA_PKCS1_SIGNATURE,
    pssSignature: RSA_PSS_SIGNATURE,
    pkcs1Ciphertext: RSA_PKCS1_CIPHERTEXT,
    oaepCiphertext: RSA_OAEP_CIPHERTEXT,
  },
} as const;
