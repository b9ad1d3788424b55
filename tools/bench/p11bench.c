/*
 * tools/bench/p11bench.c - one small PKCS#11 client for `npm run bench`: the same binary measures this HSM
 * (through opensc-pkcs11.so + pcscd + vpcd) and SoftHSM2 (libsofthsm2.so), so the comparison has one client.
 *
 *   p11bench --module PATH --token LABEL --pin PIN [--ops LIST] [-n N] [--keygen-n K] [--warmup W]
 *
 * It dlopens the module, C_Initialize, picks the first slot whose token label starts with LABEL, opens a R/W
 * session, C_Login (user), finds the benchmark keys by CKA_LABEL ("p11bench-p256", "-p384", "-rsa2048",
 * "-aes256") or generates them as token objects, then times N iterations of each operation:
 *
 *   ecdsa-p256-sign     C_SignInit + C_Sign, CKM_ECDSA over a 32-byte hash
 *   ecdsa-p384-sign     C_SignInit + C_Sign, CKM_ECDSA over a 48-byte hash
 *   ecdh-p256           C_DeriveKey, CKM_ECDH1_DERIVE (CKD_NULL, peer = the P-256 generator); the derived session
 *                       object is destroyed outside the timed window
 *   rsa2048-sign        C_SignInit + C_Sign, CKM_SHA256_RSA_PKCS over a 32-byte message
 *   rsa2048-decrypt     C_DecryptInit + C_Decrypt, CKM_RSA_PKCS of a 32-byte message (ciphertext made here with
 *                       the key's public modulus, a small bignum below: no OpenSSL needed)
 *   aes256-gcm-1k       C_EncryptInit + C_Encrypt, CKM_AES_GCM, 12-byte IV, 128-bit tag, 1 KiB of data
 *   keygen-ec-p256      C_GenerateKeyPair token EC P-256 (the pair is destroyed outside the timed window)
 *   keygen-rsa2048      C_GenerateKeyPair token RSA-2048 (idem)
 *
 * Output: JSON lines on stdout. First {"kind":"token",...}, then per operation either
 *   {"kind":"op","op":"ecdsa-p256-sign","status":"ok","n":N,"p50_us":..,"p99_us":..,"mean_us":..,"ops_per_s":..}
 * or {"kind":"op","op":"...","status":"n/a","reason":"C_GenerateKey: CKR_MECHANISM_INVALID"}.
 * ops_per_s = N / (sum of the N timed calls). Diagnostics go to stderr. Exit status 0 unless setup failed.
 */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST_PTR p11;
static CK_SESSION_HANDLE session;
static char failure[256];

static const char *rv_name(CK_RV rv) {
  switch (rv) {
    case CKR_OK: return "CKR_OK";
    case CKR_GENERAL_ERROR: return "CKR_GENERAL_ERROR";
    case CKR_FUNCTION_FAILED: return "CKR_FUNCTION_FAILED";
    case CKR_ARGUMENTS_BAD: return "CKR_ARGUMENTS_BAD";
    case CKR_ATTRIBUTE_VALUE_INVALID: return "CKR_ATTRIBUTE_VALUE_INVALID";
    case CKR_ATTRIBUTE_TYPE_INVALID: return "CKR_ATTRIBUTE_TYPE_INVALID";
    case CKR_DEVICE_ERROR: return "CKR_DEVICE_ERROR";
    case CKR_DEVICE_MEMORY: return "CKR_DEVICE_MEMORY";
    case CKR_FUNCTION_NOT_SUPPORTED: return "CKR_FUNCTION_NOT_SUPPORTED";
    case CKR_KEY_TYPE_INCONSISTENT: return "CKR_KEY_TYPE_INCONSISTENT";
    case CKR_KEY_FUNCTION_NOT_PERMITTED: return "CKR_KEY_FUNCTION_NOT_PERMITTED";
    case CKR_MECHANISM_INVALID: return "CKR_MECHANISM_INVALID";
    case CKR_MECHANISM_PARAM_INVALID: return "CKR_MECHANISM_PARAM_INVALID";
    case CKR_TEMPLATE_INCOMPLETE: return "CKR_TEMPLATE_INCOMPLETE";
    case CKR_TEMPLATE_INCONSISTENT: return "CKR_TEMPLATE_INCONSISTENT";
    case CKR_USER_NOT_LOGGED_IN: return "CKR_USER_NOT_LOGGED_IN";
    case CKR_PIN_INCORRECT: return "CKR_PIN_INCORRECT";
    case CKR_DATA_INVALID: return "CKR_DATA_INVALID";
    case CKR_DATA_LEN_RANGE: return "CKR_DATA_LEN_RANGE";
    case CKR_KEY_SIZE_RANGE: return "CKR_KEY_SIZE_RANGE";
    case CKR_KEY_HANDLE_INVALID: return "CKR_KEY_HANDLE_INVALID";
    case CKR_SESSION_HANDLE_INVALID: return "CKR_SESSION_HANDLE_INVALID";
    case CKR_TOKEN_NOT_PRESENT: return "CKR_TOKEN_NOT_PRESENT";
    case CKR_ENCRYPTED_DATA_INVALID: return "CKR_ENCRYPTED_DATA_INVALID";
    case CKR_BUFFER_TOO_SMALL: return "CKR_BUFFER_TOO_SMALL";
    case CKR_TOKEN_WRITE_PROTECTED: return "CKR_TOKEN_WRITE_PROTECTED";
    case CKR_ACTION_PROHIBITED: return "CKR_ACTION_PROHIBITED";
    default: return "CKR_?";
  }
}

/* Records the first failure of an operation; returns 0 so callers can `return fail(...)`. */
static int fail(const char *call, CK_RV rv) {
  snprintf(failure, sizeof failure, "%s: %s (0x%lx)", call, rv_name(rv), (unsigned long)rv);
  return 0;
}

#define CHECK(call, expr)                   \
  do {                                      \
    CK_RV check_rv = (expr);                \
    if (check_rv != CKR_OK) return fail(call, check_rv); \
  } while (0)

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y ? 1 : 0;
}

static double percentile(const double *sorted, size_t n, double fraction) {
  size_t rank = (size_t)(fraction * (double)n + 0.999999);
  if (rank < 1) rank = 1;
  if (rank > n) rank = n;
  return sorted[rank - 1];
}

static void report(const char *op, double *times, size_t n) {
  double sum = 0;
  for (size_t i = 0; i < n; i++) sum += times[i];
  qsort(times, n, sizeof *times, compare_doubles);
  printf("{\"kind\":\"op\",\"op\":\"%s\",\"status\":\"ok\",\"n\":%zu,\"p50_us\":%.2f,\"p99_us\":%.2f,\"mean_us\":%.2f,\"ops_per_s\":%.2f}\n",
         op, n, percentile(times, n, 0.5), percentile(times, n, 0.99), sum / (double)n, (double)n * 1e6 / sum);
  fflush(stdout);
}

static void report_na(const char *op, const char *reason) {
  printf("{\"kind\":\"op\",\"op\":\"%s\",\"status\":\"n/a\",\"reason\":\"", op);
  for (const char *c = reason; *c; c++) {
    if (*c == '"' || *c == '\\') putchar('\\');
    putchar(*c >= 0x20 ? *c : ' ');
  }
  printf("\"}\n");
  fflush(stdout);
}

/* ------------------------------------------------------------------------------------------------------- */
/* Keys */

static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
static const unsigned char OID_P256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const unsigned char OID_P384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
static const unsigned char RSA_E[] = {0x01, 0x00, 0x01};
/* The P-256 generator, uncompressed: a valid peer point for ECDH on any token. */
static const unsigned char P256_G[65] = {
    0x04, 0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5, 0x63, 0xa4, 0x40, 0xf2, 0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb,
    0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45, 0xd8, 0x98, 0xc2, 0x96, 0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a, 0x7c,
    0x0f, 0x9e, 0x16, 0x2b, 0xce, 0x33, 0x57, 0x6b, 0x31, 0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51, 0xf5};

static int find_object(const char *label, CK_OBJECT_CLASS klass, CK_OBJECT_HANDLE *found) {
  CK_ATTRIBUTE query[] = {{CKA_CLASS, &klass, sizeof klass}, {CKA_LABEL, (void *)label, strlen(label)}};
  CK_ULONG count = 0;
  CHECK("C_FindObjectsInit", p11->C_FindObjectsInit(session, query, 2));
  CK_RV rv = p11->C_FindObjects(session, found, 1, &count);
  p11->C_FindObjectsFinal(session);
  if (rv != CKR_OK) return fail("C_FindObjects", rv);
  return count == 1;
}

/* Generates a token key pair: kind 'e' (EC, params = curve OID DER) or 'r' (RSA-2048). */
static int generate_pair(char kind, const unsigned char *params, size_t params_len, const char *label, unsigned char id,
                         CK_OBJECT_HANDLE *public_key, CK_OBJECT_HANDLE *private_key) {
  CK_ULONG bits = 2048;
  unsigned char key_id[1] = {id};
  CK_ATTRIBUTE ec_public[] = {
      {CKA_TOKEN, &yes, sizeof yes}, {CKA_EC_PARAMS, (void *)params, params_len}, {CKA_VERIFY, &yes, sizeof yes},
      {CKA_LABEL, (void *)label, strlen(label)}, {CKA_ID, key_id, 1}};
  CK_ATTRIBUTE ec_private[] = {
      {CKA_TOKEN, &yes, sizeof yes}, {CKA_PRIVATE, &yes, sizeof yes}, {CKA_SENSITIVE, &yes, sizeof yes},
      {CKA_SIGN, &yes, sizeof yes},  {CKA_DERIVE, &yes, sizeof yes},  {CKA_LABEL, (void *)label, strlen(label)},
      {CKA_ID, key_id, 1}};
  CK_ATTRIBUTE rsa_public[] = {
      {CKA_TOKEN, &yes, sizeof yes}, {CKA_MODULUS_BITS, &bits, sizeof bits}, {CKA_PUBLIC_EXPONENT, (void *)RSA_E, sizeof RSA_E},
      {CKA_VERIFY, &yes, sizeof yes}, {CKA_ENCRYPT, &yes, sizeof yes}, {CKA_LABEL, (void *)label, strlen(label)}, {CKA_ID, key_id, 1}};
  CK_ATTRIBUTE rsa_private[] = {
      {CKA_TOKEN, &yes, sizeof yes}, {CKA_PRIVATE, &yes, sizeof yes}, {CKA_SENSITIVE, &yes, sizeof yes},
      {CKA_SIGN, &yes, sizeof yes},  {CKA_DECRYPT, &yes, sizeof yes}, {CKA_LABEL, (void *)label, strlen(label)},
      {CKA_ID, key_id, 1}};
  if (kind == 'e') {
    CK_MECHANISM mechanism = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
    CHECK("C_GenerateKeyPair(EC)", p11->C_GenerateKeyPair(session, &mechanism, ec_public, 5, ec_private, 7, public_key, private_key));
  } else {
    CK_MECHANISM mechanism = {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
    CHECK("C_GenerateKeyPair(RSA)", p11->C_GenerateKeyPair(session, &mechanism, rsa_public, 7, rsa_private, 7, public_key, private_key));
  }
  return 1;
}

static int ensure_pair(char kind, const unsigned char *params, size_t params_len, const char *label, unsigned char id, CK_OBJECT_HANDLE *private_key) {
  failure[0] = 0;
  if (find_object(label, CKO_PRIVATE_KEY, private_key)) return 1;
  if (failure[0]) return 0;
  CK_OBJECT_HANDLE public_key;
  fprintf(stderr, "p11bench: generating %s\n", label);
  return generate_pair(kind, params, params_len, label, id, &public_key, private_key);
}

static int ensure_aes(const char *label, CK_OBJECT_HANDLE *key) {
  failure[0] = 0;
  if (find_object(label, CKO_SECRET_KEY, key)) return 1;
  if (failure[0]) return 0;
  CK_ULONG length = 32;
  unsigned char key_id[1] = {0xa5};
  CK_ATTRIBUTE template[] = {
      {CKA_TOKEN, &yes, sizeof yes}, {CKA_PRIVATE, &yes, sizeof yes}, {CKA_SENSITIVE, &yes, sizeof yes},
      {CKA_ENCRYPT, &yes, sizeof yes}, {CKA_DECRYPT, &yes, sizeof yes}, {CKA_VALUE_LEN, &length, sizeof length},
      {CKA_LABEL, (void *)label, strlen(label)}, {CKA_ID, key_id, 1}};
  CK_MECHANISM mechanism = {CKM_AES_KEY_GEN, NULL, 0};
  fprintf(stderr, "p11bench: generating %s\n", label);
  CHECK("C_GenerateKey(AES)", p11->C_GenerateKey(session, &mechanism, template, 8, key));
  return 1;
}

/* ------------------------------------------------------------------------------------------------------- */
/* RSA public operation for the decrypt benchmark's ciphertext: little-endian 32-bit limbs, schoolbook. */

#define MAX_LIMBS 128 /* up to 4096-bit moduli */

static void bn_from_bytes(uint32_t *out, size_t limbs, const unsigned char *bytes, size_t length) {
  memset(out, 0, limbs * sizeof *out);
  for (size_t i = 0; i < length; i++) {
    size_t bit = (length - 1 - i) * 8;
    out[bit / 32] |= (uint32_t)bytes[i] << (bit % 32);
  }
}

static void bn_to_bytes(unsigned char *bytes, size_t length, const uint32_t *in) {
  for (size_t i = 0; i < length; i++) {
    size_t bit = (length - 1 - i) * 8;
    bytes[i] = (unsigned char)(in[bit / 32] >> (bit % 32));
  }
}

/* r = a * b mod n, all `limbs` long (a, b < n). Binary long division of the double-length product. */
static void bn_mulmod(uint32_t *r, const uint32_t *a, const uint32_t *b, const uint32_t *n, size_t limbs) {
  uint32_t product[2 * MAX_LIMBS] = {0};
  uint32_t rem[MAX_LIMBS + 1] = {0};
  for (size_t i = 0; i < limbs; i++) {
    uint64_t carry = 0;
    for (size_t j = 0; j < limbs; j++) {
      uint64_t t = (uint64_t)a[i] * b[j] + product[i + j] + carry;
      product[i + j] = (uint32_t)t;
      carry = t >> 32;
    }
    product[i + limbs] = (uint32_t)carry;
  }
  for (size_t bit = 2 * limbs * 32; bit-- > 0;) {
    uint32_t top = 0;
    for (size_t k = 0; k <= limbs; k++) {
      uint32_t next = rem[k] >> 31;
      rem[k] = (rem[k] << 1) | top;
      top = next;
    }
    rem[0] |= (product[bit / 32] >> (bit % 32)) & 1;
    int greater_or_equal = rem[limbs] != 0;
    if (!greater_or_equal) {
      greater_or_equal = 1;
      for (size_t k = limbs; k-- > 0;) {
        if (rem[k] != n[k]) {
          greater_or_equal = rem[k] > n[k];
          break;
        }
      }
    }
    if (greater_or_equal) {
      int64_t borrow = 0;
      for (size_t k = 0; k <= limbs; k++) {
        int64_t t = (int64_t)rem[k] - (k < limbs ? n[k] : 0) - borrow;
        borrow = t < 0;
        rem[k] = (uint32_t)(t + (borrow ? ((int64_t)1 << 32) : 0));
      }
    }
  }
  memcpy(r, rem, limbs * sizeof *r);
}

/* PKCS#1 v1.5 encryption (block type 2) of `message` with e = 65537 under `modulus`. */
static int rsa_encrypt_pkcs1(unsigned char *out, const unsigned char *modulus, size_t k, const unsigned char *message, size_t length) {
  if (k > MAX_LIMBS * 4 || length + 11 > k) return 0;
  unsigned char block[MAX_LIMBS * 4];
  block[0] = 0x00;
  block[1] = 0x02;
  for (size_t i = 2; i < k - length - 1; i++) block[i] = (unsigned char)(1 + rand() % 255);
  block[k - length - 1] = 0x00;
  memcpy(block + k - length, message, length);
  size_t limbs = (k + 3) / 4;
  uint32_t n[MAX_LIMBS], m[MAX_LIMBS], result[MAX_LIMBS];
  bn_from_bytes(n, limbs, modulus, k);
  bn_from_bytes(m, limbs, block, k);
  memcpy(result, m, limbs * sizeof *m);
  for (int i = 0; i < 16; i++) bn_mulmod(result, result, result, n, limbs); /* m^(2^16) */
  bn_mulmod(result, result, m, n, limbs);                                   /* m^(2^16 + 1) */
  bn_to_bytes(out, k, result);
  return 1;
}

/* ------------------------------------------------------------------------------------------------------- */
/* Operations: each returns 1 and fills times[n], or 0 with `failure` set. */

typedef int (*one_call)(void *context);

static int time_loop(one_call call, void *context, double *times, size_t n, size_t warmup) {
  for (size_t i = 0; i < warmup; i++)
    if (!call(context)) return 0;
  for (size_t i = 0; i < n; i++) {
    double start = now_us();
    if (!call(context)) return 0;
    times[i] = now_us() - start;
  }
  return 1;
}

struct sign_context {
  CK_OBJECT_HANDLE key;
  CK_MECHANISM_TYPE mechanism;
  unsigned char input[64];
  size_t input_length;
};

static int sign_once(void *opaque) {
  struct sign_context *c = opaque;
  CK_MECHANISM mechanism = {c->mechanism, NULL, 0};
  unsigned char signature[1024];
  CK_ULONG length = sizeof signature;
  CHECK("C_SignInit", p11->C_SignInit(session, &mechanism, c->key));
  CHECK("C_Sign", p11->C_Sign(session, c->input, c->input_length, signature, &length));
  return 1;
}

struct decrypt_context {
  CK_OBJECT_HANDLE key;
  unsigned char ciphertext[MAX_LIMBS * 4];
  size_t length;
};

static int decrypt_once(void *opaque) {
  struct decrypt_context *c = opaque;
  CK_MECHANISM mechanism = {CKM_RSA_PKCS, NULL, 0};
  unsigned char plain[MAX_LIMBS * 4];
  CK_ULONG length = sizeof plain;
  CHECK("C_DecryptInit", p11->C_DecryptInit(session, &mechanism, c->key));
  CHECK("C_Decrypt", p11->C_Decrypt(session, c->ciphertext, c->length, plain, &length));
  if (length != 32) return fail("C_Decrypt (wrong plaintext length)", CKR_GENERAL_ERROR);
  return 1;
}

struct derive_context {
  CK_OBJECT_HANDLE key;
  CK_OBJECT_HANDLE derived;
};

static int derive_once(void *opaque) {
  struct derive_context *c = opaque;
  CK_ECDH1_DERIVE_PARAMS params = {CKD_NULL, 0, NULL, sizeof P256_G, (unsigned char *)P256_G};
  CK_MECHANISM mechanism = {CKM_ECDH1_DERIVE, &params, sizeof params};
  CK_OBJECT_CLASS klass = CKO_SECRET_KEY;
  CK_KEY_TYPE type = CKK_GENERIC_SECRET;
  CK_ATTRIBUTE template[] = {{CKA_CLASS, &klass, sizeof klass}, {CKA_KEY_TYPE, &type, sizeof type}, {CKA_TOKEN, &no, sizeof no},
                             {CKA_SENSITIVE, &no, sizeof no}, {CKA_EXTRACTABLE, &yes, sizeof yes}};
  CHECK("C_DeriveKey", p11->C_DeriveKey(session, &mechanism, c->key, template, 5, &c->derived));
  return 1;
}

struct gcm_context {
  CK_OBJECT_HANDLE key;
  unsigned char iv[12];
  unsigned char data[1024];
};

static int gcm_once(void *opaque) {
  struct gcm_context *c = opaque;
  CK_GCM_PARAMS params;
  memset(&params, 0, sizeof params);
  params.pIv = c->iv;
  params.ulIvLen = sizeof c->iv;
  params.ulIvBits = sizeof c->iv * 8;
  params.pAAD = NULL;
  params.ulAADLen = 0;
  params.ulTagBits = 128;
  CK_MECHANISM mechanism = {CKM_AES_GCM, &params, sizeof params};
  unsigned char out[1024 + 16];
  CK_ULONG length = sizeof out;
  CHECK("C_EncryptInit(AES-GCM)", p11->C_EncryptInit(session, &mechanism, c->key));
  CHECK("C_Encrypt(AES-GCM)", p11->C_Encrypt(session, c->data, sizeof c->data, out, &length));
  return 1;
}

static int run_keygen(char kind, const unsigned char *params, size_t params_len, double *times, size_t n) {
  for (size_t i = 0; i < n; i++) {
    CK_OBJECT_HANDLE public_key, private_key;
    double start = now_us();
    if (!generate_pair(kind, params, params_len, "p11bench-tmp", 0xf0, &public_key, &private_key)) return 0;
    times[i] = now_us() - start;
    /* Outside the timed window: keep the token from filling up (sc-hsm has 255 key ids, 1 MiB of flash). */
    p11->C_DestroyObject(session, private_key);
    p11->C_DestroyObject(session, public_key);
  }
  return 1;
}

/* ------------------------------------------------------------------------------------------------------- */

static int wanted(const char *list, const char *op) {
  if (list == NULL) return 1;
  size_t length = strlen(op);
  for (const char *p = list; (p = strstr(p, op)) != NULL; p += length) {
    if ((p == list || p[-1] == ',') && (p[length] == ',' || p[length] == 0)) return 1;
  }
  return 0;
}

static void trimmed_label(char *out, const CK_UTF8CHAR *label, size_t size) {
  memcpy(out, label, size);
  out[size] = 0;
  for (size_t i = size; i > 0 && out[i - 1] == ' '; i--) out[i - 1] = 0;
}

static void json_string(const char *key, const char *value, int comma) {
  printf("\"%s\":\"", key);
  for (const char *c = value; *c; c++) {
    if (*c == '"' || *c == '\\') putchar('\\');
    putchar(*c >= 0x20 ? *c : ' ');
  }
  printf("\"%s", comma ? "," : "");
}

static void usage(void) {
  fprintf(stderr, "usage: p11bench --module PATH --token LABEL --pin PIN [--ops a,b,...] [-n N] [--keygen-n K] [--warmup W]\n");
  exit(2);
}

int main(int argc, char **argv) {
  const char *module = NULL, *token = NULL, *pin = NULL, *ops = NULL;
  size_t n = 200, keygen_n = 5, warmup = 10;
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    const char *value = i + 1 < argc ? argv[i + 1] : NULL;
    if (value == NULL) usage();
    if (strcmp(arg, "--module") == 0) module = value;
    else if (strcmp(arg, "--token") == 0) token = value;
    else if (strcmp(arg, "--pin") == 0) pin = value;
    else if (strcmp(arg, "--ops") == 0) ops = value;
    else if (strcmp(arg, "-n") == 0) n = strtoul(value, NULL, 10);
    else if (strcmp(arg, "--keygen-n") == 0) keygen_n = strtoul(value, NULL, 10);
    else if (strcmp(arg, "--warmup") == 0) warmup = strtoul(value, NULL, 10);
    else usage();
    i++;
  }
  if (!module || !token || !pin || n == 0 || keygen_n == 0) usage();
  srand((unsigned)time(NULL));

  void *library = dlopen(module, RTLD_NOW | RTLD_LOCAL);
  if (!library) {
    fprintf(stderr, "p11bench: dlopen %s: %s\n", module, dlerror());
    return 1;
  }
  CK_C_GetFunctionList get_list = (CK_C_GetFunctionList)dlsym(library, "C_GetFunctionList");
  if (!get_list || get_list(&p11) != CKR_OK) {
    fprintf(stderr, "p11bench: %s has no usable C_GetFunctionList\n", module);
    return 1;
  }
  CK_RV rv = p11->C_Initialize(NULL);
  if (rv != CKR_OK) {
    fprintf(stderr, "p11bench: C_Initialize: %s\n", rv_name(rv));
    return 1;
  }
  CK_SLOT_ID slots[64];
  CK_ULONG slot_count = 64;
  rv = p11->C_GetSlotList(CK_TRUE, slots, &slot_count);
  if (rv != CKR_OK) {
    fprintf(stderr, "p11bench: C_GetSlotList: %s\n", rv_name(rv));
    return 1;
  }
  CK_SLOT_ID slot = 0;
  int found = 0;
  CK_TOKEN_INFO info;
  char label[33], manufacturer[33], model[17];
  for (CK_ULONG i = 0; i < slot_count && !found; i++) {
    if (p11->C_GetTokenInfo(slots[i], &info) != CKR_OK) continue;
    trimmed_label(label, info.label, 32);
    if (strncmp(label, token, strlen(token)) == 0) {
      slot = slots[i];
      found = 1;
    }
  }
  if (!found) {
    fprintf(stderr, "p11bench: no token labelled %s* among %lu slots with a token\n", token, (unsigned long)slot_count);
    return 1;
  }
  trimmed_label(manufacturer, info.manufacturerID, 32);
  trimmed_label(model, info.model, 16);
  rv = p11->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &session);
  if (rv != CKR_OK) {
    fprintf(stderr, "p11bench: C_OpenSession: %s\n", rv_name(rv));
    return 1;
  }
  rv = p11->C_Login(session, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin));
  if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
    fprintf(stderr, "p11bench: C_Login: %s\n", rv_name(rv));
    return 1;
  }
  printf("{\"kind\":\"token\",");
  json_string("module", module, 1);
  json_string("label", label, 1);
  json_string("manufacturer", manufacturer, 1);
  json_string("model", model, 0);
  printf(",\"slot\":%lu}\n", (unsigned long)slot);
  fflush(stdout);

  double *times = calloc(n > keygen_n ? n : keygen_n, sizeof *times);
  CK_OBJECT_HANDLE p256 = 0, p384 = 0, rsa = 0, aes = 0;
  int have_p256 = -1, have_p384 = -1, have_rsa = -1;
  char p256_failure[256] = "", p384_failure[256] = "", rsa_failure[256] = "";
  if (wanted(ops, "ecdsa-p256-sign") || wanted(ops, "ecdh-p256")) {
    have_p256 = ensure_pair('e', OID_P256, sizeof OID_P256, "p11bench-p256", 0xb1, &p256);
    if (!have_p256) strcpy(p256_failure, failure);
  }
  if (wanted(ops, "ecdsa-p384-sign")) {
    have_p384 = ensure_pair('e', OID_P384, sizeof OID_P384, "p11bench-p384", 0xb2, &p384);
    if (!have_p384) strcpy(p384_failure, failure);
  }
  if (wanted(ops, "rsa2048-sign") || wanted(ops, "rsa2048-decrypt")) {
    have_rsa = ensure_pair('r', NULL, 0, "p11bench-rsa2048", 0xb3, &rsa);
    if (!have_rsa) strcpy(rsa_failure, failure);
  }

  if (wanted(ops, "ecdsa-p256-sign")) {
    struct sign_context c = {p256, CKM_ECDSA, {0}, 32};
    memset(c.input, 0x5a, 32);
    if (!have_p256) report_na("ecdsa-p256-sign", p256_failure);
    else if (time_loop(sign_once, &c, times, n, warmup)) report("ecdsa-p256-sign", times, n);
    else report_na("ecdsa-p256-sign", failure);
  }
  if (wanted(ops, "ecdsa-p384-sign")) {
    struct sign_context c = {p384, CKM_ECDSA, {0}, 48};
    memset(c.input, 0x5b, 48);
    if (!have_p384) report_na("ecdsa-p384-sign", p384_failure);
    else if (time_loop(sign_once, &c, times, n, warmup)) report("ecdsa-p384-sign", times, n);
    else report_na("ecdsa-p384-sign", failure);
  }
  if (wanted(ops, "ecdh-p256")) {
    if (!have_p256) report_na("ecdh-p256", p256_failure);
    else {
      struct derive_context c = {p256, 0};
      int ok = 1;
      for (size_t i = 0; i < warmup + n && ok; i++) {
        double start = now_us();
        ok = derive_once(&c);
        if (ok && i >= warmup) times[i - warmup] = now_us() - start;
        if (ok) p11->C_DestroyObject(session, c.derived);
      }
      if (ok) report("ecdh-p256", times, n);
      else report_na("ecdh-p256", failure);
    }
  }
  if (wanted(ops, "rsa2048-sign")) {
    struct sign_context c = {rsa, CKM_SHA256_RSA_PKCS, {0}, 32};
    memset(c.input, 0x5c, 32);
    if (!have_rsa) report_na("rsa2048-sign", rsa_failure);
    else if (time_loop(sign_once, &c, times, n, warmup)) report("rsa2048-sign", times, n);
    else report_na("rsa2048-sign", failure);
  }
  if (wanted(ops, "rsa2048-decrypt")) {
    if (!have_rsa) report_na("rsa2048-decrypt", rsa_failure);
    else {
      struct decrypt_context c = {rsa, {0}, 0};
      unsigned char modulus[MAX_LIMBS * 4 + 1];
      CK_ATTRIBUTE attribute = {CKA_MODULUS, modulus, sizeof modulus};
      CK_OBJECT_HANDLE public_key;
      failure[0] = 0;
      /* The modulus from the public key object, or from the private key where a token exposes it there. */
      rv = find_object("p11bench-rsa2048", CKO_PUBLIC_KEY, &public_key) ? p11->C_GetAttributeValue(session, public_key, &attribute, 1) : CKR_GENERAL_ERROR;
      if (rv != CKR_OK) {
        attribute.ulValueLen = sizeof modulus;
        rv = p11->C_GetAttributeValue(session, rsa, &attribute, 1);
      }
      unsigned char message[32];
      memset(message, 0x42, sizeof message);
      const unsigned char *m = modulus;
      size_t k = attribute.ulValueLen;
      while (k > 0 && *m == 0) m++, k--;
      if (rv != CKR_OK) report_na("rsa2048-decrypt", "C_GetAttributeValue(CKA_MODULUS) failed");
      else if (!rsa_encrypt_pkcs1(c.ciphertext, m, k, message, sizeof message)) report_na("rsa2048-decrypt", "modulus too large");
      else {
        c.length = k;
        if (time_loop(decrypt_once, &c, times, n, warmup)) report("rsa2048-decrypt", times, n);
        else report_na("rsa2048-decrypt", failure);
      }
    }
  }
  if (wanted(ops, "aes256-gcm-1k")) {
    struct gcm_context c;
    memset(&c, 0x33, sizeof c);
    if (!ensure_aes("p11bench-aes256", &aes)) report_na("aes256-gcm-1k", failure);
    else {
      c.key = aes;
      if (time_loop(gcm_once, &c, times, n, warmup)) report("aes256-gcm-1k", times, n);
      else report_na("aes256-gcm-1k", failure);
    }
  }
  if (wanted(ops, "keygen-ec-p256")) {
    if (run_keygen('e', OID_P256, sizeof OID_P256, times, keygen_n)) report("keygen-ec-p256", times, keygen_n);
    else report_na("keygen-ec-p256", failure);
  }
  if (wanted(ops, "keygen-rsa2048")) {
    if (run_keygen('r', NULL, 0, times, keygen_n)) report("keygen-rsa2048", times, keygen_n);
    else report_na("keygen-rsa2048", failure);
  }
  free(times);
  p11->C_Logout(session);
  p11->C_CloseSession(session);
  p11->C_Finalize(NULL);
  return 0;
}
