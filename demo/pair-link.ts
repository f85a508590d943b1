/**
 * The Quick Connect link format is `<webAppUrl>/#pair=<code>` (README "Relay HTTP API"). A
 * fragment never reaches a server, so the code stays out of access logs and Referer headers.
 */
const PAIR_FRAGMENT = /^#pair=([^&]*)$/;

/** The code in a `#pair=CODE` fragment, or undefined for any other fragment or an implausible code. */
export function pairCodeFromHash(hash: string): string | undefined {
  const match = PAIR_FRAGMENT.exec(hash);
  if (!match) return undefined;
  let code: string;
  try {
    code = decodeURIComponent(match[1]!).trim();
  } catch {
    return undefined;
  }
  // The relay forgives case, dashes and spaces; anything else is not a code worth sending.
  return /^[0-9A-Za-z][0-9A-Za-z -]{0,63}$/.test(code) ? code : undefined;
}
