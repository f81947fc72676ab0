/**
 * Errors that reach a person: each has a stable code (for the JSON-RPC error data and
 * tests) and a message that says what is wrong, where, and what to do.
 */
export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'FILE_NOT_FOUND'
  | 'MODEL_INVALID'
  | 'SAFETENSORS_INVALID'
  | 'DATA_INVALID'
  | 'ADAPTER_INVALID'
  /** A run folder's file is corrupt or points outside the folder. */
  | 'RUN_FOLDER_INVALID'
  | 'BACKEND_UNAVAILABLE'
  | 'UNSUPPORTED'
  | 'RUN_CANCELLED'
  | 'RUN_BUSY'
  | 'INTERNAL';

export class SpruftError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** The file (and optionally the place in it) that the error is about. */
    readonly where?: string,
  ) {
    super(where ? `${where}: ${message}` : message);
    this.name = 'SpruftError';
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
