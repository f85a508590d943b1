/** `npm run bench`: every benchmark, each printed as ratios against its same-run baseline. */
import { protocolBenchmarks } from './protocol.bench.js';
import { relayBenchmarks } from './relay.bench.js';

console.log(`node ${process.version}, ${new Date().toISOString()}`);
protocolBenchmarks();
await relayBenchmarks();
