export * from './circuit-breaker.js';
export * from './connect-daemon.js';
export * from './daemon-config.js';
export * from './daemon-types.js';
export * from './identity.js';
export * from './offline-outbox.js';
export * from './session-inbox.js';
