/**
 * The package's public API: the HSM client library and the key and encoding helpers it returns.
 *
 *   import { HsmClient } from 'pico-hsm-ts';
 *   const hsm = await HsmClient.connect({ socketPath: `${process.env.HOME}/.local/share/pico-hsm-ts/hsm.sock` });
 *   console.log(await hsm.info());
 */
export {
  HsmClient,
  HsmError,
  DeviceAbsentError,
  TransportError,
  STATUS_EXPLANATIONS,
  explainStatusWord,
  statusWordHex,
  encodeApdu,
  socketTransport,
  serialTransport,
  soPinBytes,
  hashOf,
  OPTION_RESET_RETRY_COUNTER,
  SIGN_ALGORITHMS,
  DECIPHER_ALGORITHMS,
  type ApduTransport,
  type ConnectOptions,
  type DeviceInfo,
  type PinStatus,
  type Response,
  type SignAlgorithm,
  type DecipherAlgorithm,
} from './client.js';
export {
  CURVE_OIDS,
  EC_CURVES,
  curveFromName,
  parseKeySpec,
  describeSpec,
  spkiDer,
  spkiPem,
  publicKeyFromSpki,
  publicKeyObject,
  parseKeyRequest,
  verifyCvSignature,
  buildPrkd,
  parsePrkd,
  describeKey,
  keyToJson,
  keyTypeText,
  type CurveName,
  type KeyDescription,
  type KeyRequest,
  type KeySpec,
  type PublicKey,
} from './keys.js';
export { toPem, fromPem, toHex, fromHex, toBase64, fromBase64, decodeInput, encodeOutput, FormatError, type InputFormat, type OutputFormat } from './pem.js';
