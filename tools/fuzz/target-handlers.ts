/**
 * Target `handlers`: every actor's handlers with schema-derived messages (mostly valid and hostile: edge values,
 * full-size fields; some schema mutants and byte-mutated envelopes), delivered as raw bytes through
 * `scheduler.deliverRaw` by any sender the board's capability list allows (and a few it does not), on a
 * commissioned device holding keys (one template flash image, a fresh boot per input).
 *
 * Oracles after every message: no actor restarted (nothing escaped a handler); an answerable request got an
 * answer, an unanswerable one none; the answer decodes as a declared reply or declared/system error of the
 * callee's protocol; `badMessage` exactly when the body breaks the schema; no known key in the answer (except
 * keystore.loadKey, whose reply carries key material to the crypto actor by design); mailboxes bounded. After
 * the input: no key in traces, logs, non-crypto messages or the flash image.
 */
import fc from 'fast-check';
import { DEVICE_CAPABILITIES, DEVICE_OPERATION_CAPABILITIES } from '../../boards/device.js';
import { SimFlash } from '../../hal/sim/flash.js';
import { ecGenerateBody as ecRequestBody } from '../../actors/card/cvc.js';
import { decodeEnvelope, decodeResponse, encodeEnvelope, type Envelope } from '../../messages/protocol.js';
import { pinProtocol } from '../../messages/pin.js';
import { arbitraryFor, conforms, mutantFor } from './arbitrary.js';
import { check, Finding, fromHexString, show, toHex, type FuzzTarget } from './common.js';
import { applyMutations, mutationArbitrary, type Mutation } from './mutate.js';
import { PROTOCOLS, protocolNamed } from './schemas.js';
import { FUZZ_GEOMETRY, FuzzDevice } from './sim-device.js';

export interface HandlerMessage {
  readonly from: string;
  readonly to: string;
  readonly op: string;
  readonly body: unknown;
  readonly mutations?: readonly Mutation[];
}

export interface HandlersInput {
  readonly seed: number;
  /** Verify the user PIN before the messages (reaches the key paths). */
  readonly verified: boolean;
  readonly messages: readonly HandlerMessage[];
}

export const USER_PIN = new TextEncoder().encode('648219');
export const SO_PIN = fromHexString('3537363231383830');

function allowed(from: string, to: string, op: string): boolean {
  const list = DEVICE_CAPABILITIES[from];
  if (list === undefined || !list.includes(to)) return false;
  const narrowed = DEVICE_OPERATION_CAPABILITIES[`${to}.${op}`];
  return narrowed === undefined || narrowed.includes(from);
}

const SENDERS = Object.keys(DEVICE_CAPABILITIES);

function messageArbitrary(): fc.Arbitrary<HandlerMessage> {
  const operations = PROTOCOLS.flatMap((protocol) => Object.entries(protocol.operations).map(([op, spec]) => ({ to: protocol.name, op, spec })));
  return fc.constantFrom(...operations).chain(({ to, op, spec }) => {
    const permitted = SENDERS.filter((from) => allowed(from, to, op));
    const from = permitted.length > 0 ? fc.oneof({ arbitrary: fc.constantFrom(...permitted), weight: 9 }, { arbitrary: fc.constantFrom(...SENDERS), weight: 1 }) : fc.constantFrom(...SENDERS);
    const body = fc.oneof({ arbitrary: arbitraryFor(spec.request, { maxBytes: 80 }), weight: 8 }, { arbitrary: mutantFor(spec.request, { maxBytes: 40 }), weight: 2 });
    const opName = fc.oneof({ arbitrary: fc.constant(op), weight: 19 }, { arbitrary: fc.constantFrom('nope', '__proto__', 'constructor', 'toString'), weight: 1 });
    return fc.record(
      { from, to: fc.constant(to), op: opName, body, mutations: fc.array(mutationArbitrary(), { minLength: 1, maxLength: 3 }) },
      { requiredKeys: ['from', 'to', 'op', 'body'] },
    );
  });
}

/** Mostly valid messages: mutations on one message in ten. */
function inputArbitrary(): fc.Arbitrary<HandlersInput> {
  const message = fc.tuple(messageArbitrary(), fc.integer({ min: 0, max: 9 })).map(([candidate, dice]) => {
    if (dice === 0 || candidate.mutations === undefined) return candidate;
    const { mutations: _dropped, ...rest } = candidate;
    return rest;
  });
  return fc.record({ seed: fc.nat({ max: 0xffff }), verified: fc.boolean(), messages: fc.array(message, { minLength: 1, maxLength: 6 }) });
}

// ---------------------------------------------------------------------------------------------------------
// The template: a commissioned device with an EC key (CC01), an AES key (CC02) and data objects.

let template: { image: Uint8Array; device: FuzzDevice } | undefined;

export function ecGenerateBody(): Uint8Array {
  return ecRequestBody('secp256r1', 'TSHSM00000000001');
}

export function extendedApdu(header: string, data: Uint8Array): Uint8Array {
  return fromHexString(`${header}00${data.length.toString(16).padStart(4, '0')}${toHex(data)}0000`);
}

/** Builds (once) the commissioned template image; its keys are recorded by the template device. */
export async function commissionedTemplate(): Promise<{ image: Uint8Array; device: FuzzDevice }> {
  if (template) return template;
  const device = new FuzzDevice({ seed: 7, flash: new SimFlash(FUZZ_GEOMETRY), template: true });
  await device.boot();
  const expect = async (hex: string | Uint8Array, phase: FuzzDevice['phase'] = 'other'): Promise<void> => {
    device.phase = phase;
    const answer = await device.transmit(typeof hex === 'string' ? fromHexString(hex.replace(/\s/g, '')) : hex);
    device.phase = 'other';
    const sw = toHex(answer.subarray(answer.length - 2));
    if (sw !== '9000') throw new Error(`template: ${typeof hex === 'string' ? hex : toHex(hex)} answered ${sw}`);
  };
  await expect('00A404000BE82B0601040181C31F020100');
  await expect(`8050000019800200018106${toHex(USER_PIN)}8208${toHex(SO_PIN)}910103`, 'initialize');
  await expect(`0020008106${toHex(USER_PIN)}`);
  await expect(extendedApdu('00460100', ecGenerateBody()), 'generateKeyPair');
  await expect('004802B0 00', 'generateSecretKey');
  await expect('00D7CD01 09 5402 0000 5303 AABBCC');
  await expect('00D7CF01 09 5402 0000 5303 010203');
  await device.restart();
  template = { image: device.flash.snapshot(), device };
  return template;
}

function protocolOf(name: string) {
  const protocol = protocolNamed(name);
  if (!protocol) throw new Error(`no protocol ${name}`);
  return protocol;
}

async function runHandlers(input: HandlersInput): Promise<void> {
  const base = await commissionedTemplate();
  const device = new FuzzDevice({ seed: input.seed, flash: SimFlash.fromImage(FUZZ_GEOMETRY, base.image) });
  // The template's keys are the keys of this device too.
  device.secrets.merge(base.device.secrets);
  await device.boot();
  if (input.verified) {
    const verified = await device.settle(device.scheduler.call('board', pinProtocol, 'verify', { reference: 'user', value: USER_PIN }), 'verify');
    check(verified.ok, 'template', () => 'the user PIN of the template does not verify');
  }
  device.checkNoRestarts();
  for (const [index, message] of input.messages.entries()) {
    const where = `message ${index} (${message.from} -> ${message.to}.${message.op})`;
    let bytes: Uint8Array;
    try {
      bytes = encodeEnvelope({ kind: 'request', id: 1000 + index, from: message.from, to: message.to, op: message.op, body: message.body });
    } catch {
      continue; // not encodable as CBOR: nothing a peer could send
    }
    if (message.mutations) bytes = applyMutations(bytes, message.mutations);
    let sent: Envelope | undefined;
    try {
      sent = decodeEnvelope(bytes);
    } catch {
      sent = undefined;
    }
    const answerable = sent !== undefined && sent.kind === 'request' && sent.from === message.from && PROTOCOLS.some((protocol) => protocol.name === sent?.to) && allowed(message.from, sent.to, sent.op);
    const answer = await device.settle(device.scheduler.deliverRaw(message.from, bytes), where);
    device.checkNoRestarts();
    device.checkMailboxes();
    if (!answerable || sent === undefined) {
      check(answer === undefined, 'unanswerable-answered', () => `${where}: bytes that are not an allowed request were answered`);
      continue;
    }
    check(answer !== undefined, 'request-unanswered', () => `${where}: an allowed request got no answer`);
    let envelope: Envelope;
    try {
      envelope = decodeEnvelope(answer);
    } catch (error) {
      throw new Finding('answer-undecodable', `${where}: ${String(error)}`);
    }
    const protocol = protocolOf(sent.to);
    let result: ReturnType<typeof decodeResponse>;
    try {
      result = decodeResponse(protocol, envelope);
    } catch (error) {
      throw new Finding('answer-undeclared', `${where}: ${error instanceof Error ? error.message : String(error)}; answer ${show(envelope, 600)}`);
    }
    const known = Object.prototype.hasOwnProperty.call(protocol.operations, sent.op);
    const valid = known && conforms(protocol.operations[sent.op]!.request, sent.body);
    const code = result.ok ? undefined : result.error.code;
    if (!known) check(code === 'unknownOperation', 'unknown-operation', () => `${where}: unknown operation answered ${code ?? 'ok'}`);
    else if (!valid) check(code === 'badMessage', 'bad-message-accepted', () => `${where}: a body breaking the schema was answered ${code ?? 'ok'}: ${show(sent?.body, 400)}`);
    else check(code !== 'badMessage' && code !== 'unknownOperation', 'good-message-refused', () => `${where}: a valid body was answered ${code}: ${show(result, 400)}`);
    if (!(sent.to === 'keystore' && sent.op === 'loadKey') && !(sent.to === 'pin' && sent.op === 'masterKey')) {
      const found = device.secrets.findIn(toHex(answer));
      check(found === undefined, 'key-leak-answer', () => `${where}: ${found} in the answer`);
    }
  }
  await device.settle(device.scheduler.idle(), 'idle');
  device.checkNoRestarts();
  device.checkNoLeaks('after the messages');
  device.checkFlash('after the messages');
}

export const handlersTarget: FuzzTarget<HandlersInput> = {
  name: 'handlers',
  description: 'schema-derived hostile messages to every actor of a commissioned sim device through scheduler.deliverRaw',
  async setup() {
    await commissionedTemplate();
  },
  arbitrary: inputArbitrary,
  run: runHandlers,
};
