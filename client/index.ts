export * from './client-types.js';
export * from './connect-client.js';
export * from './pin-store.js';
export * from './session-token-source.js';
