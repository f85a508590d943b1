export { registerSideband, type RegisterOptions } from './register-sideband.js';
export type { Sideband, SidebandEvent } from './sideband.js';
export { SidebandChannel, type ChannelCloseInfo, type ChannelMessageData, type SidebandChannelEventMap } from './sideband-channel.js';
export { SidebandError } from './sideband-error.js';
export type { CallInit } from './lane-codec.js';
export type { SidebandState, SidebandStatus } from '../sw/messages.js';
