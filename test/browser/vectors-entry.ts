/**
 * Bundled for the browser by the global setup (dist/test-web/vectors.js): runs the Data-frame
 * vectors of every known-answer file through the AEADs the browser build carries — noble (what
 * the session uses) and native WebCrypto ChaCha20-Poly1305 where the browser has it — with the
 * same protocol code the worker runs. Returns one line per failure, so the test shows them all.
 */
import { nobleAead, type Aead } from '../../protocol/aead.js';
import { fromHex, toHex } from '../../protocol/bytes.js';
import { Direction, openData, sealData } from '../../protocol/data-cipher.js';
import { hasNativeChaCha20Poly1305, nativeAsyncAead } from '../../sw/native-aead.js';

type Json = Record<string, unknown>;

function plaintextOf(entry: Json): Uint8Array {
  if (entry.plaintext !== undefined && entry.plaintext !== null) return fromHex(String(entry.plaintext));
  const match = /^pattern-(\d+)/.exec(String(entry.plaintextLabel ?? ''));
  const length = match ? Number(match[1]) : Number(entry.plaintextLength);
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = i % 251;
  return out;
}

export async function runSbrpVectors(files: Record<string, Json>): Promise<{ checked: number; native: boolean; failures: string[] }> {
  const failures: string[] = [];
  const native = await hasNativeChaCha20Poly1305();
  let checked = 0;
  for (const [name, file] of Object.entries(files)) {
    for (const h of (file.handshakes ?? []) as Json[]) {
      const keys = h.sessionKeys as Record<string, string> | undefined;
      if (!keys) continue;
      for (const entry of (h.data ?? []) as Json[]) {
        const label = `${name} ${String(h.label)} ${String(entry.direction)} seq ${String(entry.seq)}`;
        const key = fromHex(keys[entry.direction === 'c2d' ? 'clientToDaemon' : 'daemonToClient']!);
        const direction = entry.direction === 'c2d' ? Direction.clientToDaemon : Direction.daemonToClient;
        const seq = BigInt(String(entry.seq));
        const stated = entry.payload ? fromHex(String(entry.payload)) : undefined;
        checked++;
        if (entry.error) {
          if (!stated) continue;
          try {
            openData(key, direction, stated, nobleAead);
            failures.push(`${label}: noble opened a payload that must be refused (${String(entry.error)})`);
          } catch {
            // refused, as it must be
          }
          continue;
        }
        const plaintext = plaintextOf(entry);
        const aead: Aead = nobleAead;
        const payload = sealData(key, direction, seq, plaintext, aead);
        if (stated && toHex(payload) !== toHex(stated)) failures.push(`${label}: noble payload differs`);
        if (!stated && entry.tag && toHex(payload.subarray(payload.length - 16)) !== entry.tag) failures.push(`${label}: noble tag differs`);
        if (toHex(openData(key, direction, payload, aead).plaintext) !== toHex(plaintext)) failures.push(`${label}: noble does not open its own payload`);
        if (native) {
          const nonce = payload.subarray(0, 12);
          const sealed = await nativeAsyncAead.seal(key, nonce, plaintext);
          if (toHex(sealed) !== toHex(payload.subarray(12))) failures.push(`${label}: native payload differs`);
          const opened = await nativeAsyncAead.open(key, nonce, payload.subarray(12));
          if (toHex(opened) !== toHex(plaintext)) failures.push(`${label}: native does not open`);
        }
      }
    }
  }
  return { checked, native, failures };
}

(globalThis as { runSbrpVectors?: typeof runSbrpVectors }).runSbrpVectors = runSbrpVectors;
