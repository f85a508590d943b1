import { hc } from 'hono/client';
import { registerSideband } from '../../page/index.js';
import type { AppType } from './daemon-app.js';

export async function startWebApp(relay: string, show: (line: string) => void) {
  const sideband = await registerSideband({ relay });          // registers /sideband-sw.js, waits for control
  sideband.on('status', (status) => show(`status ${status.state}`));
  sideband.on('event', ({ name, data }) => show(`event ${name} ${JSON.stringify(data)}`));
  const code = new URLSearchParams(location.hash.slice(1)).get('pair'); // the Quick Connect link: <web app>/#pair=CODE
  if (sideband.status.state === 'needs-pairing' && code) await sideband.pair(code);
  const res = await fetch('/sideband/api/files?dir=src');      // plain fetch, from any tab
  show(`files ${JSON.stringify(await res.json())}`);
  const api = hc<AppType>(`${location.origin}/sideband`);      // typed calls, same path
  const saved = await (await api.api.notes.$post({ json: { text: 'hi' } })).json();
  show(`saved ${saved.saved}`);
  return sideband;
}
