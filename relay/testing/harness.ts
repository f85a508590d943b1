import { randomBytes } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { importJWK, SignJWT, type CryptoKey } from 'jose';
import WebSocket from 'ws';
import { controlName, FrameType, type ControlName } from '../../protocol/codes.js';
import { toBase64Url } from '../../protocol/bytes.js';
import { decodeFrame, type Frame } from '../../protocol/frame-codec.js';
import { parseControl } from '../../protocol/frames.js';
import { generateSigningKey } from '../control-plane/signing-keys.js';
import { MemoryControlPlaneStore } from '../control-plane/memory-store.js';
import type { RelayOptions } from '../options.js';
import { startRelay, type RelayServer } from '../relay-server.js';

/**
 * Test support for the relay suites: a relay on port 0 whose signing key the test knows (so it
 * can forge bad tokens), and WebSocket peers that record every frame. Everything opened here is
 * closed by `close()`, so a test cannot leak a socket or a timer.
 */

export interface ReceivedFrame extends Frame {
  /** For Control frames: the code's name. */
  control?: ControlName | 'unknown';
}

export class TestPeer {
  readonly ws: WebSocket;
  readonly frames: ReceivedFrame[] = [];
  readonly texts: string[] = [];
  readonly closed: Promise<{ code: number }>;
  private consumed = new Set<ReceivedFrame>();
  private waiters: { match: (f: ReceivedFrame) => boolean; resolve: (f: ReceivedFrame) => void }[] = [];

  constructor(ws: WebSocket) {
    this.ws = ws;
    this.closed = new Promise((resolve) => ws.once('close', (code) => resolve({ code })));
    ws.on('message', (data, isBinary) => {
      if (!isBinary) return void this.texts.push(String(data));
      const frame: ReceivedFrame = decodeFrame(new Uint8Array(data as Buffer));
      frame.payload = frame.payload.slice();
      if (frame.type === FrameType.Control) frame.control = controlName(parseControl(frame).code) ?? 'unknown';
      this.frames.push(frame);
      for (const waiter of [...this.waiters]) {
        if (!this.consumed.has(frame) && waiter.match(frame)) {
          this.consumed.add(frame);
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          waiter.resolve(frame);
        }
      }
    });
    ws.on('error', () => {});
  }

  send(bytes: Uint8Array): void {
    this.ws.send(bytes);
  }

  /** The next not yet consumed frame matching `match`; rejects after `timeoutMs`. */
  next(match: (f: ReceivedFrame) => boolean, timeoutMs = 3000, what = 'frame'): Promise<ReceivedFrame> {
    const found = this.frames.find((f) => !this.consumed.has(f) && match(f));
    if (found) {
      this.consumed.add(found);
      return Promise.resolve(found);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`timed out waiting for ${what}; got ${this.describe()}`));
      }, timeoutMs);
      const done = (f: ReceivedFrame): void => {
        clearTimeout(timer);
        resolve(f);
      };
      this.waiters.push({ match, resolve: done });
    });
  }

  control(name: ControlName, sessionId?: bigint, timeoutMs = 3000): Promise<ReceivedFrame> {
    return this.next((f) => f.control === name && (sessionId === undefined || f.sessionId === sessionId), timeoutMs, `Control ${name}`);
  }

  controls(): string[] {
    return this.frames.filter((f) => f.control !== undefined).map((f) => `${f.control}:${f.sessionId}`);
  }

  /** Resolves with the close code, or rejects if the socket is still open after `timeoutMs`. */
  async closedWithin(timeoutMs = 3000): Promise<number> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`socket still open; got ${this.describe()}`)), timeoutMs);
    });
    try {
      return (await Promise.race([this.closed, timeout])).code;
    } finally {
      clearTimeout(timer);
    }
  }

  private describe(): string {
    return JSON.stringify(this.frames.map((f) => f.control ?? `type ${f.type} sid ${f.sessionId}`));
  }
}

export type ConnectResult = { ok: true; peer: TestPeer } | { ok: false; status: number; body: string };

/**
 * Opens a raw SBRP WebSocket kept in `sockets` while it lives (so a test can close whatever is
 * left); a refused upgrade resolves with its status and body instead of rejecting.
 */
export function openTrackedPeer(url: string, headers: Record<string, string>, sockets: Set<WebSocket>): Promise<ConnectResult> {
  const ws = new WebSocket(url, { headers, perMessageDeflate: false });
  sockets.add(ws);
  ws.once('close', () => sockets.delete(ws));
  return new Promise((resolve, reject) => {
    const peer = new TestPeer(ws);
    ws.once('open', () => resolve({ ok: true, peer }));
    ws.once('unexpected-response', (req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        req.destroy();
        sockets.delete(ws);
        resolve({ ok: false, status: res.statusCode ?? 0, body });
      });
    });
    ws.once('error', (error) => reject(error));
  });
}

export interface ConnectOptions {
  token?: string;
  /** Send the token as `?token=` instead of `Authorization: Bearer`. */
  viaQuery?: boolean;
  headers?: Record<string, string>;
  /** Another path than /v1/connect. */
  path?: string;
}

export interface TestDaemon {
  daemonId: string;
  apiKey: string;
}

export class TestRelay {
  readonly relay: RelayServer;
  private readonly signingKey: CryptoKey;
  readonly kid: string;
  private readonly sockets = new Set<WebSocket>();

  private constructor(relay: RelayServer, signingKey: CryptoKey, kid: string) {
    this.relay = relay;
    this.signingKey = signingKey;
    this.kid = kid;
  }

  static async start(options: RelayOptions = {}): Promise<TestRelay> {
    const store = new MemoryControlPlaneStore();
    const key = await generateSigningKey(Date.now());
    await store.insertSigningKey(key);
    const privateKey = await importJWK({ ...key.privateJwk, alg: 'EdDSA' }, 'EdDSA');
    const relay = await startRelay({ port: 0, store, ...options });
    return new TestRelay(relay, privateKey as CryptoKey, key.kid);
  }

  async registerDaemon(label = 'test'): Promise<TestDaemon> {
    const identityPublicKey = toBase64Url(ed25519.getPublicKey(ed25519.utils.randomSecretKey()));
    return this.relay.controlPlane.registerDaemon({ identityPublicKey, label });
  }

  async daemonToken(daemonId: string, resume = true): Promise<string> {
    return (await this.relay.controlPlane.issuePresenceToken(daemonId, { resume })).token;
  }

  async clientToken(daemonId: string): Promise<{ token: string; sessionId: bigint }> {
    const issued = await this.relay.controlPlane.issueSessionToken(daemonId, 'test');
    return { token: issued.token, sessionId: BigInt(issued.sessionId) };
  }

  /** Signs arbitrary claims with the relay's own key (header overridable) to build bad tokens. */
  async sign(claims: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'EdDSA', typ: 'sbrp-relay+jwt', kid: this.kid, ...header })
      .sign(this.signingKey);
  }

  /** Valid claims for a role, to be spoiled one field at a time. */
  claims(role: 'daemon' | 'client', did: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
    const iat = Math.floor(Date.now() / 1000);
    const base: Record<string, unknown> = {
      iss: 'sideband-control-plane', aud: ['sideband-relay'], iat, exp: iat + 60, jti: toBase64Url(randomBytes(8)),
      role, sub: role === 'daemon' ? did : 'tester', did, ver: 1,
    };
    if (role === 'client') base.sid = toBase64Url(randomBytes(8));
    else base.scp = ['session:resume'];
    return { ...base, ...overrides };
  }

  connect(options: ConnectOptions = {}): Promise<ConnectResult> {
    const headers: Record<string, string> = { ...options.headers };
    let url = options.path === undefined ? this.relay.wsUrl : `${this.relay.url.replace(/^http/, 'ws')}${options.path}`;
    if (options.token !== undefined) {
      if (options.viaQuery) url += `?token=${encodeURIComponent(options.token)}`;
      else headers.authorization = `Bearer ${options.token}`;
    }
    return openTrackedPeer(url, headers, this.sockets);
  }

  /** Connects and expects the upgrade to succeed. */
  async open(token: string, options: Omit<ConnectOptions, 'token'> = {}): Promise<TestPeer> {
    const result = await this.connect({ ...options, token });
    if (!result.ok) throw new Error(`upgrade refused: ${result.status} ${result.body}`);
    return result.peer;
  }

  /** Registers a daemon and connects it; returns the daemon and its peer. */
  async onlineDaemon(resume = true): Promise<TestDaemon & { peer: TestPeer }> {
    const daemon = await this.registerDaemon();
    const peer = await this.open(await this.daemonToken(daemon.daemonId, resume));
    return { ...daemon, peer };
  }

  /** Opens a client session to `daemonId`. */
  async client(daemonId: string): Promise<{ peer: TestPeer; sessionId: bigint }> {
    const { token, sessionId } = await this.clientToken(daemonId);
    return { peer: await this.open(token), sessionId };
  }

  async metricsText(): Promise<string> {
    return (await fetch(`${this.relay.url}/metrics`)).text();
  }

  async close(): Promise<void> {
    for (const ws of this.sockets) ws.terminate();
    this.sockets.clear();
    await this.relay.close();
  }
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` until true or throws after `timeoutMs`. */
export async function eventually(condition: () => boolean, timeoutMs = 3000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}
