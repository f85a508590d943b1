export * from './aead-node.js';
export * from './atomic-write.js';
export * from './control-plane-client.js';
export * from './ed25519-key-file.js';
export * from './errors.js';
export * from './private-file.js';
export * from './relay-socket.js';
