/**
 * Node flags the relay runs with (`npm run relay`, `npm start`, `npm run cluster`, the benches'
 * relay processes; package.json must match, relay/node-flags.test.ts checks it).
 *
 * `--initial-old-space-size=64`: a relay's heap is small (~10 MB live), so V8 starts it with an
 * old-generation limit a few MB above that, while forwarding allocates ArrayBuffers at hundreds
 * of MB/s (a socket read and ws's message buffer per 64 KiB frame). With the small limit V8
 * collects them with full mark-compacts: 50–75 per 400 MB downloaded through the relay, 0.8 s of
 * GC, where a bare `ws` forwarder moving the same bytes needed one. Starting the limit at 64 MB
 * leaves them to the scavenger: no mark-compact over 1.2 GB, relay CPU 2.5–3.6 → 1.2 ms per MB,
 * downloads through it 1.3–1.6× faster (issue 9; `CHILD_EXEC_ARGV=--trace-gc` on
 * bench/node.bench.ts's children shows it). It is an initial limit, not a reservation: memory is
 * used only as the heap grows, and V8 still collects at it. Node refuses it in NODE_OPTIONS, so it
 * goes on the command line: `node --initial-old-space-size=64 --import tsx relay/cli.ts`.
 */
export const RELAY_NODE_FLAGS: readonly string[] = Object.freeze(['--initial-old-space-size=64']);
