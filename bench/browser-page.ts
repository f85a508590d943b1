/**
 * The bench page (bench.html), written into the bench's web root by browser-stack.ts: the page
 * library as window.sideband (as test/browser's test.html), the AEAD ceiling bundle, and
 * `window.bench`, the measurements that run INSIDE the page with performance.now(). Plain
 * JavaScript in a string: bench/ is type-checked without the DOM lib.
 */
export const BENCH_PAGE = `<!doctype html><meta charset="utf-8"><title>sideband bench page</title>
<script src="/bench-aead.js"></script>
<script type="module">
import { registerSideband } from '/sideband-page.js';
const params = new URLSearchParams(location.search);
const relay = params.get('relay') ?? undefined;
window.sidebandReady = registerSideband({ relay }).then((s) => (window.sideband = s));
window.sidebandReady.catch((e) => (window.sidebandError = { code: e.code, message: e.message }));

const channel = new BroadcastChannel('sideband-bench');
let ws;
let wsNext = 1;
const wsPending = new Map();

async function openWs(url) {
  if (ws) return;
  ws = new WebSocket(url);
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error('WebSocket failed')); });
  ws.onmessage = (e) => {
    const message = JSON.parse(e.data);
    const done = wsPending.get(message.id);
    wsPending.delete(message.id);
    done?.(message);
  };
}

/** One small request of the given kind; throws unless 200 with 100 bytes. */
function smallOp(kind) {
  switch (kind) {
    case 'sw': return async () => check(await fetch('/sideband/api/small'));
    case 'plain': return async () => check(await fetch('/plain/small'));
    case 'lane': return async () => check(await window.sideband.call('/api/small'));
    case 'ws': return () => new Promise((resolve, reject) => {
      const id = wsNext++;
      wsPending.set(id, (m) => (m.status === 200 && m.body.length === 100 ? resolve() : reject(new Error('ws status ' + m.status))));
      ws.send(JSON.stringify({ id, method: 'GET', path: '/api/small' }));
    });
  }
  throw new Error('unknown kind ' + kind);
}

async function check(res) {
  const body = await res.arrayBuffer();
  if (res.status !== 200 || body.byteLength !== 100) throw new Error('status ' + res.status + ' ' + (res.headers.get('sideband-error') ?? '') + ' bytes ' + body.byteLength);
}

window.bench = {
  openWs,
  /** n sequential small requests after a warm-up; latencies in ms. */
  async small(kind, n, warmup) {
    const op = smallOp(kind);
    for (let i = 0; i < warmup; i++) await op();
    const out = [];
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      await op();
      out.push(performance.now() - t);
    }
    return out;
  },
  /** Sequential small requests from the 'start' to the 'end' message on the bench channel (another tab's download). */
  async smallDuring(kind, max) {
    const op = smallOp(kind);
    const started = new Promise((resolve) => channel.addEventListener('message', function on(e) { if (e.data === 'start') { channel.removeEventListener('message', on); resolve(); } }));
    let ended = false;
    const onEnd = (e) => { if (e.data === 'end') ended = true; };
    channel.addEventListener('message', onEnd);
    window.benchListening = true;
    await started;
    window.benchListening = false;
    const out = [];
    while (!ended && out.length < max) {
      const t = performance.now();
      await op();
      out.push(performance.now() - t);
    }
    channel.removeEventListener('message', onEnd);
    return { latencies: out, endedByDownload: ended };
  },
  /** Downloads size bytes; MB/s (10^6 B/s) from the request to the last byte. Announces start and end on the bench channel. */
  async download(kind, size, announce) {
    const url = kind === 'sw' ? '/sideband/api/bytes?size=' + size : '/plain/bytes?size=' + size;
    const t = performance.now();
    const res = await fetch(url);
    const reader = res.body.getReader();
    let bytes = 0;
    if (announce) channel.postMessage('start');
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      bytes += value.byteLength;
    }
    const ms = performance.now() - t;
    if (announce) channel.postMessage('end');
    if (res.status !== 200 || bytes !== size) throw new Error('download ' + kind + ': status ' + res.status + ', ' + bytes + ' of ' + size + ' bytes');
    return size / 1e6 / (ms / 1000);
  },
  /** Uploads size bytes as a POST body (built before the clock starts); MB/s until the answer is read. */
  async upload(kind, size) {
    const data = new Uint8Array(size);
    for (let i = 0; i < size; i += 4096) data[i] = i & 0xff;
    const url = kind === 'sw' ? '/sideband/api/upload' : '/plain/upload';
    const t = performance.now();
    const res = await fetch(url, { method: 'POST', body: data });
    const answer = await res.json();
    const ms = performance.now() - t;
    if (res.status !== 200 || answer.bytes !== size) throw new Error('upload ' + kind + ': status ' + res.status + ' ' + JSON.stringify(answer));
    return size / 1e6 / (ms / 1000);
  },
  /** n concurrent small requests; absolute start and end times (timeOrigin-based, comparable across tabs). */
  async burst(kind, n, startAt) {
    const op = smallOp(kind);
    const wait = startAt - (performance.timeOrigin + performance.now());
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const start = performance.timeOrigin + performance.now();
    await Promise.all(Array.from({ length: n }, () => op()));
    return { start, end: performance.timeOrigin + performance.now() };
  },
  /** Time to the response head (first byte) and to the end of one small fetch through the worker. */
  async firstByte() {
    const t = performance.now();
    const res = await fetch('/sideband/api/small');
    const head = performance.now() - t;
    const body = await res.arrayBuffer();
    if (res.status !== 200 || body.byteLength !== 100) throw new Error('cold fetch: status ' + res.status + ' ' + (res.headers.get('sideband-error') ?? ''));
    return { head, total: performance.now() - t };
  },
  aead(totalBytes, chunk) {
    return window.sbrpBenchAead.aeadCeiling(totalBytes, chunk);
  },
};
</script>
`;
