// A button's action as one piece: `busy` while it runs (to disable the button and show progress),
// and `error`, the back end's message, when it fails. The pages that start an evaluation, import
// a layer or export one all do exactly this; an action that fails leaves the page as it was.
import { ref } from 'vue'
import { errorMessage } from './errors'

export function useAction() {
  const busy = ref(false)
  const error = ref<string | null>(null)
  /** Runs `fn`; its result, or undefined when it threw (the message is then in `error`). */
  async function run<T>(fn: () => Promise<T>): Promise<T | undefined> {
    busy.value = true
    error.value = null
    try {
      return await fn()
    } catch (err) {
      error.value = errorMessage(err)
      return undefined
    } finally {
      busy.value = false
    }
  }
  return { busy, error, run }
}
