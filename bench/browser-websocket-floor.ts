/**
 * How fast this browser's own WebSocket delivers a download, with nothing of Sideband in the
 * way: a `ws` server of this process sends 200 MiB in 64 KiB binary frames (the daemon's Data
 * piece) to a dedicated worker (the thread kind a service worker is), which only counts bytes.
 * No relay, no cipher, no service worker. It bounds the worker's download through the relay from
 * above, whatever the AEAD ceiling says (issue 9). Driven by puppeteer-core, not Playwright:
 * Playwright turns on DevTools network inspection for every page and worker, which makes
 * Chromium base64-encode each frame into a CDP event and would understate the browser.
 *
 *   npx tsx bench/browser-websocket-floor.ts [MiB] [frameBytes]
 *
 * Not part of `npm run bench` (its figures are all side by side with a same-run baseline); a
 * tool behind the throughput figure's note.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import puppeteer from 'puppeteer-core';
import { WebSocketServer } from 'ws';

const MiB = 2 ** 20;
const total = Number(process.argv[2] ?? 200) * MiB;
const frameBytes = Number(process.argv[3] ?? 64 * 1024);
const CHROMIUM = process.env.SIDEBAND_CHROMIUM ?? '/usr/bin/chromium';

/** The worker: on [url, total], opens the socket, asks for `total` bytes and answers MB/s. */
const WORKER = `onmessage = (event) => {
  const [url, total] = event.data;
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  let bytes = 0;
  let start = 0;
  ws.onopen = () => { start = performance.now(); ws.send(String(total)); };
  ws.onmessage = (message) => {
    bytes += message.data.byteLength;
    if (bytes < total) return;
    postMessage(total / 1e6 / ((performance.now() - start) / 1000));
    ws.close();
  };
};`;
const PAGE = `<!doctype html><script>
window.receive = (url, total) => new Promise((resolve) => {
  const worker = new Worker('/worker.js');
  worker.onmessage = (event) => { resolve(event.data); worker.terminate(); };
  worker.postMessage([url, total]);
});
</script>`;

const server = createServer((req, res) => {
  const script = req.url === '/worker.js';
  res.writeHead(200, { 'content-type': script ? 'text/javascript' : 'text/html' });
  res.end(script ? WORKER : PAGE);
});
const sockets = new WebSocketServer({ server });
const frame = Buffer.alloc(frameBytes, 7);
sockets.on('connection', (ws) =>
  ws.on('message', (data) => {
    const want = Number(data.toString());
    let sent = 0;
    // Backpressure as the relay has it: stop at 4 MiB buffered, go on when the socket drained.
    const pump = (): void => {
      while (sent < want) {
        sent += frameBytes;
        const full = ws.bufferedAmount > 4 * MiB;
        ws.send(frame, full ? () => pump() : undefined); // the callback: this frame reached the socket
        if (full) return;
      }
    };
    pump();
  }),
);
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const port = (server.address() as { port: number }).port;
const browser = await puppeteer.launch({ headless: true, executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
try {
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${port}/`);
  for (let round = 0; round < 3; round++) {
    const rate = (await page.evaluate((url, n) => (globalThis as unknown as { receive: (u: string, t: number) => Promise<number> }).receive(url, n), `ws://127.0.0.1:${port}/`, total)) as number;
    console.log(`round ${round + 1}: ${(total / MiB).toFixed(0)} MiB in ${frameBytes} B frames to a dedicated worker: ${rate.toFixed(1)} MB/s`);
  }
} finally {
  await browser.close();
  sockets.close();
  server.close();
}
