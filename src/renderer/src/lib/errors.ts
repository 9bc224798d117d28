// The one way the renderer turns a caught value into the sentence it shows. The back end's
// errors arrive as Error objects whose message is already written for the user (it names the
// file and the fix), so the message is shown as it is.
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
