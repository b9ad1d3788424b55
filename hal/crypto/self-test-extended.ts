/**
 * Known-answer tests for what the host engines offer beyond the device profile (hal/crypto/self-test.ts has the
 * framework and the device profile's tests): SHA-1, SHA-224, SHA-384 and SHA-512 with their HMACs, the six other
 * curves, RSA and AES. The host engines list them in `knownAnswerTests`; the Pico bundle never imports this file.
 *
 * - Digests: the FIPS 180 "abc" examples; HMACs: RFC 2202 / RFC 4231 test case 2 ("Jefe").
 * - Curves: the same test as P-256 (self-test.ts's curveTest); expected values computed with the portable engine
 *   (@noble/curves) and cross-checked against OpenSSL in test/self-test.test.ts.
 * - `rsa`: a fixed 512-bit key (small on purpose: a test key, not a secret) - raw private operation, PKCS#1 v1.5
 *   and PSS (salt 0, deterministic) signatures and their verification, PKCS#1 v1.5 and OAEP-SHA1 decryption of
 *   fixed ciphertexts, encryption round trips. Key generation is not tested (asynchronous, seconds). Expected
 *   values come from node:crypto, cross-checked in the test.
 * - `aes`: FIPS-197 C.1 and C.3 (one block through CBC with a zero IV, both directions), SP 800-38A F.5.1 (CTR),
 *   GCM test case 2 of McGrew-Viega (seal, open, forged tag), RFC 4493 example 2 (CMAC).
 */
import {
  ascii,
  CHACHA_PLAINTEXT,
  CHACHA_SEALED,
  curveTest,
  digestTest,
  EC_HASH,
  expectBytes,
  expectTrue,
  flipped,
  fromHex,
  HKDF_RFC5869_1,
  HMAC_SHA256_JEFE,
  hmacTest,
  P256_VECTOR,
  PBKDF2_PASSWORD_SALT_2,
  sameBytes,
  SHA256_ABC,
  type EcVector,
} from './self-test.js';
import { EC_CURVES, HASH_NAMES, type CryptoEngine, type CurveName, type HashName, type KnownAnswerTest } from './types.js';

/** FIPS 180-4 examples: the digest of "abc". */
const DIGEST_ABC: Readonly<Record<HashName, string>> = {
  sha1: 'a9993e364706816aba3e25717850c26c9cd0d89d',
  sha224: '23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7',
  sha256: SHA256_ABC,
  sha384: 'cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7',
  sha512: 'ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f',
};

/** RFC 2202 / RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?". */
const HMAC_JEFE: Readonly<Record<HashName, string>> = {
  sha1: 'effcdf6ae5eb2fa2d27416d5f184df9c259a7c79',
  sha224: 'a30e01098bc6dbbf45690f3a7e9e6d0f8bbea2a39e6148008fd05e44',
  sha256: HMAC_SHA256_JEFE,
  sha384: 'af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649',
  sha512: '164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737',
};

const EC_VECTORS: Readonly<Record<CurveName, EcVector>> = {
  secp256r1: P256_VECTOR,
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

function testRsa(engine: CryptoEngine): void {
  const rsa = engine.rsa;
  if (rsa === undefined) return;
  const privateKey = fromHex(RSA_PRIVATE_KEY);
  const modulus = fromHex(RSA_MODULUS);
  const exponent = fromHex('010001');
  const input = new Uint8Array(64);
  for (let index = 0; index < 64; index++) input[index] = index;
  expectBytes('raw private operation', rsa.rawPrivate(privateKey, input), RSA_RAW);
  const digest = fromHex(SHA256_ABC);
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

const BEYOND_SHA256 = HASH_NAMES.filter((hash) => hash !== 'sha256');
const BEYOND_P256 = EC_CURVES.filter((curve) => curve !== 'secp256r1');

/** Every test beyond the device profile. */
export const EXTENDED_KNOWN_ANSWER_TESTS: readonly KnownAnswerTest[] = [
  ...BEYOND_SHA256.map((hash) => digestTest(hash, DIGEST_ABC[hash])),
  ...BEYOND_SHA256.map((hash) => hmacTest(hash, HMAC_JEFE[hash])),
  ...BEYOND_P256.map((curve) => curveTest(curve, EC_VECTORS[curve])),
  { algorithm: 'rsa', run: testRsa },
  { algorithm: 'aes', run: testAes },
];

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
