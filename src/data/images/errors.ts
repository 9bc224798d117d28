// Why an image dataset cannot be registered. Every message names the file at fault and says
// what to do; `reason` lets the API answer not_found or bad_request (as DatasetError does).
import { DatasetError } from '../formats.js'

export class ImageDatasetError extends DatasetError {
  constructor(
    reason: 'missing' | 'unsupported' | 'unreadable',
    message: string,
    /** The file (or folder) at fault. */
    readonly file: string,
    options?: { cause?: unknown },
  ) {
    super(reason, message, options)
    this.name = 'ImageDatasetError'
  }
}
