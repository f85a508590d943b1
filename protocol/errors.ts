import { ControlCode, EndpointCode, controlName, type ControlName, type EndpointCodeName } from './codes.js';

/** Every stable error code the protocol core can raise: wire Control names and endpoint codes. */
export type SbrpErrorCode = ControlName | EndpointCodeName;

/**
 * The one error class of the protocol core. Callers branch on `code` (a stable name from
 * sbrp.md §3), never on `message`. `sessionId` is the SessionID a relay would put in the
 * Control frame answering this error.
 */
export class SbrpError extends Error {
  override readonly name: string = 'SbrpError';
  readonly code: SbrpErrorCode;
  readonly sessionId: bigint;

  constructor(code: SbrpErrorCode, message: string, sessionId = 0n) {
    super(message);
    this.code = code;
    this.sessionId = sessionId;
  }

  /** Numeric value: the Control code on the wire, or 0xE0xx for endpoint-only codes. */
  get numericCode(): number {
    return numericValue(this.code);
  }

  /** Builds the error an endpoint raises on receiving a terminal Control frame. */
  static fromControl(code: number, sessionId: bigint): SbrpError {
    const name = controlName(code);
    const hex = `0x${code.toString(16).padStart(4, '0')}`;
    return new SbrpError(name ?? 'internal_error', `relay sent Control ${name ?? 'unknown'} (${hex})`, sessionId);
  }
}

function numericValue(code: SbrpErrorCode): number {
  return code in ControlCode ? ControlCode[code as ControlName] : EndpointCode[code as EndpointCodeName];
}

/**
 * The daemon presented an identity key other than the pinned one (sbrp.md §5 TOFU). Carries
 * both fingerprints so a UI can show them; only an explicit user approval replaces the pin.
 */
export class IdentityKeyChangedError extends SbrpError {
  readonly daemonId: string;
  readonly pinnedFingerprint: string;
  readonly offeredFingerprint: string;
  readonly offeredKey: Uint8Array;

  constructor(daemonId: string, pinnedFingerprint: string, offeredFingerprint: string, offeredKey: Uint8Array, sessionId = 0n) {
    super(
      'identity_key_changed',
      `identity key of daemon ${daemonId} changed: pinned ${pinnedFingerprint}, offered ${offeredFingerprint}`,
      sessionId,
    );
    this.daemonId = daemonId;
    this.pinnedFingerprint = pinnedFingerprint;
    this.offeredFingerprint = offeredFingerprint;
    this.offeredKey = offeredKey;
  }
}
