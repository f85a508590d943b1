/**
 * Handshake CPU per side (performance issue: "the handshake on noble, ~4 ms CPU per side"):
 * handshakes per second of the daemon side (ephemeral, sign, X25519, key schedule) and the
 * client side (verify, X25519, key schedule) on node:crypto against noble, measured in the same
 * run, alternating rounds; and the daemon side with its identity prepared once against deriving
 * the public key from the seed on every handshake (what DaemonEndpoint did before).
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { clientHandshake, daemonHandshake, ephemeralFromPrivate, generateEphemeral, nobleHandshakeCrypto, type HandshakeCrypto } from '../protocol/handshake.js';
import { nodeHandshakeCrypto } from '../node/handshake-node.js';
import { summarize, type BenchFigure, type BenchOptions } from './figure.js';
import { measure } from './measure.js';

const random = (n: number): Uint8Array => new Uint8Array(randomBytes(n));
const DAEMON_ID = 'bench-daemon-0001';

function daemonSide(crypto: HandshakeCrypto, prepared: boolean): () => void {
  const seed = random(32);
  const signer = crypto.ed25519Signer(seed);
  const clientEph = generateEphemeral(random, crypto).publicKey;
  return () => {
    daemonHandshake(DAEMON_ID, prepared ? signer : seed, clientEph, generateEphemeral(random, crypto), crypto);
  };
}

function clientSide(crypto: HandshakeCrypto): () => void {
  const signer = crypto.ed25519Signer(random(32));
  // From raw private bytes, so each round can hand over a fresh copy (clientHandshake wipes it):
  // a backend that generates its own (node:crypto) keeps the private key inside instead.
  const clientPrivate = random(32);
  const client = ephemeralFromPrivate(clientPrivate.slice(), crypto);
  const { accept } = daemonHandshake(DAEMON_ID, signer, client.publicKey, generateEphemeral(random, crypto), crypto);
  return () => {
    clientHandshake(DAEMON_ID, { privateKey: clientPrivate.slice(), publicKey: client.publicKey }, accept, signer.publicKey, crypto);
  };
}

function compare(
  id: string, name: string, note: string, rounds: number, ms: number,
  value: [string, () => void], baseline: [string, () => void],
): BenchFigure {
  const a: number[] = [];
  const b: number[] = [];
  for (let round = 0; round < rounds; round++) {
    // Alternate which goes first so a drift of the machine favours neither.
    if (round % 2 === 0) {
      b.push(measure(baseline[0], baseline[1], { ms }).opsPerSecond);
      a.push(measure(value[0], value[1], { ms }).opsPerSecond);
    } else {
      a.push(measure(value[0], value[1], { ms }).opsPerSecond);
      b.push(measure(baseline[0], baseline[1], { ms }).opsPerSecond);
    }
  }
  const v = summarize(a);
  return {
    id, group: 'protocol', name: `${name}: ${value[0]}`, unit: 'handshakes/s',
    value: v.median, spread: v.spread, rounds,
    baseline: { name: baseline[0], value: summarize(b).median }, note,
  };
}

export function handshakeBenchmarks(opts: BenchOptions = { quick: false }): BenchFigure[] {
  const rounds = opts.quick ? 1 : 5;
  const ms = opts.quick ? 150 : 600;
  return [
    compare('handshake.daemon', 'Handshake, daemon side', 'ephemeral + Ed25519 sign + X25519 + HKDF, identity prepared once', rounds, ms,
      ['node:crypto', daemonSide(nodeHandshakeCrypto, true)], ['noble', daemonSide(nobleHandshakeCrypto, true)]),
    compare('handshake.client', 'Handshake, client side', 'Ed25519 verify + X25519 + HKDF (ephemeral made before)', rounds, ms,
      ['node:crypto', clientSide(nodeHandshakeCrypto)], ['noble', clientSide(nobleHandshakeCrypto)]),
    compare('handshake.daemon.identity', 'Handshake, daemon side, noble', 'public key derived once per identity vs from the seed per handshake', rounds, ms,
      ['identity prepared once', daemonSide(nobleHandshakeCrypto, true)], ['public key derived per handshake', daemonSide(nobleHandshakeCrypto, false)]),
  ];
}

/** `tsx bench/handshake.bench.ts [--quick]` prints the figures on their own. */
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const f of handshakeBenchmarks({ quick: process.argv.includes('--quick') })) {
    console.log(`${f.id.padEnd(26)} ${(f.value / f.baseline!.value).toFixed(2)}×  ${f.value.toFixed(0)} vs ${f.baseline!.value.toFixed(0)} ${f.unit}  (${f.name} vs ${f.baseline!.name})`);
  }
}
