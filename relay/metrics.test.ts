import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FrameType } from '../protocol/codes.js';
import { encodeFrame } from '../protocol/frame-codec.js';
import { eventually, TestRelay } from './testing/harness.js';

/** GET /metrics: Prometheus text with connections, sessions, forwarded frames and bytes, Controls, rejections. */

describe('relay metrics', () => {
  let t: TestRelay;
  beforeEach(async () => {
    t = await TestRelay.start({ graceMs: 5000 });
  });
  afterEach(async () => {
    await t.close();
  });

  it('reports live state and counters', async () => {
    const daemon = await t.onlineDaemon();
    const a = await t.client(daemon.daemonId);
    const b = await t.client(daemon.daemonId);
    a.peer.send(encodeFrame(FrameType.Data, a.sessionId, new Uint8Array(100)));
    await daemon.peer.next((f) => f.type === FrameType.Data);
    daemon.peer.send(encodeFrame(FrameType.Data, b.sessionId, new Uint8Array(50)));
    await b.peer.next((f) => f.type === FrameType.Data);
    await t.connect({ token: 'garbage' });

    let text = await t.metricsText();
    expect(text).toContain('# TYPE sbrp_relay_connections gauge');
    expect(text).toContain('sbrp_relay_connections{role="client"} 2');
    expect(text).toContain('sbrp_relay_connections{role="daemon"} 1');
    expect(text).toContain('sbrp_relay_sessions{state="active"} 2');
    expect(text).toContain('sbrp_relay_frames_forwarded_total{direction="client_to_daemon"} 1');
    expect(text).toContain('sbrp_relay_frames_forwarded_total{direction="daemon_to_client"} 1');
    expect(text).toContain('sbrp_relay_bytes_forwarded_total{direction="client_to_daemon"} 113');
    expect(text).toContain('sbrp_relay_bytes_forwarded_total{direction="daemon_to_client"} 63');
    expect(text).toContain('sbrp_relay_tokens_rejected_total{reason="malformed"} 1');
    expect(text).toContain('sbrp_relay_connections_accepted_total 3');

    daemon.peer.ws.close();
    await a.peer.control('session_paused', a.sessionId);
    await b.peer.control('session_paused', b.sessionId);
    text = await t.metricsText();
    expect(text).toContain('sbrp_relay_sessions{state="paused"} 2');
    expect(text).toContain('sbrp_relay_connections{role="daemon"} 0');
    expect(text).toContain('sbrp_relay_control_sent_total{code="session_paused"} 2');

    a.peer.ws.close();
    await eventually(() => t.relay.metrics.render().includes('sbrp_relay_connections{role="client"} 1'));
    expect(t.relay.metrics.render()).toContain('sbrp_relay_sessions_closed_total{reason="client_left"} 1');
    // Nothing in the exposition is a token, a key or a payload.
    expect(text).not.toMatch(/eyJ|sbk_|sba_/);
  });
});
