/**
 * Functions that run INSIDE a page (Playwright and Puppeteer both send them as source, so they
 * must be self-contained: no imports, no outer variables).
 */

/** fetch in the page; returns status, the `Sideband-Error` code, JSON (if any) and the body's SHA-256. */
export async function fetchDigest(path: string): Promise<{ status: number; bytes: number; sha256: string; json: unknown; error: string | null }> {
  const res = await fetch(path);
  const bytes = new Uint8Array(await res.arrayBuffer());
  const digest = [...new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))].map((b) => b.toString(16).padStart(2, '0')).join('');
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    json = undefined;
  }
  return { status: res.status, bytes: bytes.length, sha256: digest, json, error: res.headers.get('sideband-error') };
}
