export * from './stream-codes.js';
export * from './stream-error.js';
export * from './inner-frame.js';
export * from './heads.js';
export * from './mux-stream.js';
export * from './mux.js';
export * from './receive-credit.js';
