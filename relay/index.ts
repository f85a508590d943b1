export { startRelay, type RelayServer } from './relay-server.js';
export { DEFAULTS, DEFAULT_LIMITS, type RelayOptions, type RelayLimits, type RateLimit } from './options.js';
export { TokenVerifier, TokenRejectedError, TOKEN_REJECT_REASONS, TOKEN_TYPE, TOKEN_AUDIENCE, RESUME_SCOPE } from './token-verifier.js';
export type { TokenVerifierOptions, VerifiedToken, TokenRejectReason } from './token-verifier.js';
export { ControlPlane } from './control-plane/control-plane.js';
export type {
  ControlPlaneOptions, RegisterDaemonInput, RegisteredDaemon, PresenceTokenResponse, SessionTokenResponse, DaemonInfo,
} from './control-plane/control-plane.js';
export { MemoryControlPlaneStore, type MemoryStoreOptions } from './control-plane/memory-store.js';
export { StoreFullError, DuplicateRecordError, type ControlPlaneStore, type DaemonRecord, type SigningKeyRecord } from './control-plane/store.js';
export { HttpError, HttpErrorStatus, type HttpErrorCode } from './http-error.js';
export { RelayMetrics } from './metrics.js';
export { silentLogger, jsonLineLogger, redactUrl, type RelayLogger } from './logger.js';
