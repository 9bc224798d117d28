// The failure every transport carries back, so the UI and the CLI can show one clear message.
export const ERROR_CODES = ['bad_request', 'not_found', 'conflict', 'unauthorized', 'internal'] as const
export type ErrorCode = (typeof ERROR_CODES)[number]

export interface ApiErrorBody {
  code: ErrorCode
  message: string
}

export class ApiError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message)
    this.name = 'ApiError'
  }
  toBody(): ApiErrorBody {
    return { code: this.code, message: this.message }
  }
}

/**
 * Thrown by a job (or a service it runs) for a failure the user can fix; its message is shown as
 * it is. Here, below every layer, so that services need not import the job layer to throw it.
 */
export class JobError extends Error {}
