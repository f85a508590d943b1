import { Hono } from 'hono';

// The daemon's whole contract is a fetch handler; a Hono app is one, and its type gives the
// web app typed calls (web-app.ts) over plain fetch through the service worker.
export const app = new Hono()
  .get('/api/files', (c) => c.json({ dir: c.req.query('dir') ?? '.', files: ['README.md', 'src/'] }))
  .post('/api/notes', async (c) => c.json({ saved: (await c.req.json<{ text: string }>()).text }, 201));

export type AppType = typeof app;
