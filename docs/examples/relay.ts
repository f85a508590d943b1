import { startRelay } from '../../relay/index.js';

export async function relayForWebApp(webOrigin: string, dataDir: string) {
  return startRelay({
    port: 0,                        // relay.url, relay.wsUrl once listening
    dataDir,                        // control-plane state in dataDir/control-plane.sqlite
    quickConnect: true,             // pairing codes for browsers and devices
    allowedOrigins: [webOrigin],    // the web app's origin: WebSocket Origin check and CORS
    webAppUrl: webOrigin,           // pairing links open <webOrigin>/#pair=CODE
  });                               // await relay.close() is idempotent
}
