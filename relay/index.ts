export { startRelay, type RelayServer } from './relay-server.js';
export { DEFAULTS, DEFAULT_LIMITS, type RelayOptions, type RelayLimits, type RateLimit, type PerIpRate } from './options.js';
export { TokenVerifier, TokenRejectedError, TOKEN_REJECT_REASONS, TOKEN_TYPE, TOKEN_AUDIENCE, RESUME_SCOPE } from './token-verifier.js';
export type { TokenVerifierOptions, VerifiedToken, TokenRejectReason } from './token-verifier.js';
export { ControlPlane } from './control-plane/control-plane.js';
export type {
  ControlPlaneOptions, RegisterDaemonInput, RegisteredDaemon, PresenceTokenResponse, SessionTokenResponse, DaemonInfo,
} from './control-plane/control-plane.js';
export { MemoryControlPlaneStore, type MemoryStoreOptions } from './control-plane/memory-store.js';
export { SqliteControlPlaneStore, DATA_FILE_NAME, type SqliteStoreOptions } from './control-plane/sqlite-store.js';
export { MIGRATIONS, SchemaVersionError, type Migration } from './control-plane/sqlite-migrations.js';
export {
  StoreFullError, DuplicateRecordError, LimitReachedError, RateLimitedError, QUICK_CONNECT_RETENTION_MS, REVOKED_DEVICE_RETENTION_MS,
  type ControlPlaneStore, type ControlPlaneEvent, type DaemonRecord, type SigningKeyRecord, type DeviceRecord, type QuickConnectRecord,
  type QuickConnectOutcome, type ChallengeRecord,
} from './control-plane/store.js';
export { Pairing, DEFAULT_PAIRING_LIMITS, devicePrincipal } from './control-plane/pairing.js';
export type {
  PairingLimits, QuickConnectResponse, RedeemResponse, ChallengeResponse, DeviceTokenResponse, DeviceInfo,
} from './control-plane/pairing.js';
export { DEVICE_TOKEN_CONTEXT, deviceTokenMessage } from './control-plane/device-auth.js';
export { DEFAULT_SIGNING_KEY_OVERLAP_MS } from './control-plane/signing-keys.js';
export { HttpError, HttpErrorStatus, type HttpErrorCode } from './http-error.js';
export { RelayMetrics } from './metrics.js';
export { silentLogger, jsonLineLogger, redactUrl, type RelayLogger } from './logger.js';
export { DEFAULT_CLUSTER_TIMERS, type ClusterOptions, type ClusterTimers } from './cluster/cluster-options.js';
export type { Backplane } from './cluster/backplane.js';
