/**
 * Status words the applet answers with (ISO 7816-4 and the SmartCard-HSM, shared/docs/protocol.md section 2).
 * An enum rather than an object: the bundler writes each use as its number (no 126 property lookups by long
 * names in the Pico bundle).
 */
export enum SW {
  ok = 0x9000,
  endOfFile = 0x6282,
  executionError = 0x6400,
  memoryFailure = 0x6581,
  wrongLength = 0x6700,
  logicalChannelUnsupported = 0x6881,
  secureMessagingUnsupported = 0x6882,
  lastCommandOfChainExpected = 0x6883,
  securityStatusNotSatisfied = 0x6982,
  authenticationBlocked = 0x6983,
  referenceDataNotUsable = 0x6984,
  conditionsNotSatisfied = 0x6985,
  commandNotAllowed = 0x6986,
  wrongData = 0x6a80,
  functionNotSupported = 0x6a81,
  fileNotFound = 0x6a82,
  notEnoughMemory = 0x6a84,
  incorrectP1P2 = 0x6a86,
  referenceDataNotFound = 0x6a88,
  fileExists = 0x6a89,
  wrongParameters = 0x6b00,
  insNotSupported = 0x6d00,
  claNotSupported = 0x6e00,
  noPreciseDiagnosis = 0x6f00,
}

/** 63Cx: wrong PIN, x tries left (x at most 15). */
export function wrongPinStatus(retriesLeft: number): number {
  return retriesLeft === 0 ? SW.authenticationBlocked : 0x63c0 | Math.min(retriesLeft, 15);
}
