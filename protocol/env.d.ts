// The protocol core runs in every runtime (Node, service worker, window) but may use only what
// all of them share. These are the few globals it needs, declared here because the protocol
// tsconfig loads neither DOM nor Node types (design.md: a stray Buffer must not compile).
declare class TextEncoder {
  encode(input?: string): Uint8Array;
}
declare class TextDecoder {
  constructor(label?: string, options?: { fatal?: boolean });
  decode(input?: Uint8Array): string;
}
