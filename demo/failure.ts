/**
 * One stable `code` for whatever went wrong (style.md §5: branch on codes, show messages):
 * the JSON error body the worker and the daemon answer with (`{"error":{"code","message"}}`),
 * a SidebandError's code, or a code named after the exception.
 */
export class Failure extends Error {
  override readonly name = 'Failure';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The response when it is 2xx; else throws a Failure with its error code (or `http_<status>`). */
export async function ensureOk(response: Response): Promise<Response> {
  if (response.ok) return response;
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    body = undefined;
  }
  const error = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  const code = typeof error?.code === 'string' ? error.code : `http_${response.status}`;
  const message = typeof error?.message === 'string' ? error.message : `HTTP ${response.status}`;
  throw new Failure(code, message);
}

/** The stable code of any thrown value. */
export function codeOf(error: unknown): string {
  if (error && typeof error === 'object' && 'code' in error && typeof error.code === 'string') return error.code;
  if (error instanceof DOMException && error.name === 'AbortError') return 'aborted';
  if (error instanceof TypeError) return 'network_error';
  return 'internal';
}

/** `code: message`, for a line of text under a control. */
export function describe(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return `${codeOf(error)}: ${message}`;
}
