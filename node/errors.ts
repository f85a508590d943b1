/** Errors of Node-only helpers (private files). The shared ones live in web/errors.ts. */

/** A private file (identity, config, pins) is unsafe to trust or cannot be parsed. */
export type FileErrorCode = 'file_insecure' | 'file_malformed';

export class FileError extends Error {
  override readonly name = 'FileError';
  constructor(
    readonly code: FileErrorCode,
    message: string,
    readonly path: string,
  ) {
    super(message);
  }
}
