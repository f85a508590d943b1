export * from '../web/client-types.js';
export * from './connect.js';
export * from './connect-client.js';
export * from './fetch-cli-args.js';
export * from './pin-store.js';
export * from './session-token-source.js';
export { Channel, ChannelError, type ChannelData } from '../web/channel.js';
