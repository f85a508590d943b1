/** What the connection loop needs for each attempt: a session token and its `sid` (sbrp.md §5). */
export interface ClientToken {
  token: string;
  /** base64url SessionID; read from the token's `sid` claim when omitted. */
  sid?: string;
}

/** Called before every connection attempt: a fresh token with a fresh `sid` (sbrp.md §5). */
export type GetToken = (signal: AbortSignal) => Promise<ClientToken>;
