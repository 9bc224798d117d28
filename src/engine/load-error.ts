// The error of a model folder the engine cannot load (a missing or malformed config.json, a
// tensor of the wrong shape): its message names the file and the fix. A module of its own so that
// every step of loading (folder, config check, weights) can throw it without importing the others.
export class ModelLoadError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'ModelLoadError'
  }
}
