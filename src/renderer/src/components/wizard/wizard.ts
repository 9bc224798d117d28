// A wizard's navigation, apart from any one wizard: which step is shown, which steps the user has
// tried to leave (their messages show from then on), which are done, which can be reached. A
// wizard's store describes its steps as data (title, errors) and owns one of these; WizardShell
// draws it. The last step is the review, from which the work starts.
import { computed, ref, watch, type ComputedRef, type Ref } from 'vue'

export interface WizardStep {
  id: string
  /** The step list's name for it. */
  title: string
  /** The card's heading; defaults to the title. */
  heading?: string
  /** One line under the title in the step list once chosen ("block 2", "1M tokens"). */
  summary?: string
  /** What keeps the user from going on; empty when the step is valid. */
  errors: string[]
}

export interface Wizard {
  steps: ComputedRef<WizardStep[]>
  step: Ref<number>
  current: ComputedRef<WizardStep>
  isReview: ComputedRef<boolean>
  /** Steps whose Next (or the Start) was pressed: their messages show even on untouched fields. */
  attempted: Ref<Set<number>>
  /** The first step with errors; the review's index when all are valid. */
  firstInvalid: ComputedRef<number>
  isDone(i: number): boolean
  /** A step tried and still wrong: the list marks it. */
  needsAttention(i: number): boolean
  reachable(i: number): boolean
  go(i: number): void
  /** Validates the shown step; goes on when it is valid. False when it stayed (its errors now show). */
  next(): Promise<boolean>
  /** Before a start: every step's messages show; the first invalid step, or null when all are valid. */
  attemptAll(): Promise<number | null>
  /** Shows step `i` as if the user had come there through the steps before it (a link that prefills them). */
  jump(i: number): void
  reset(): void
}

/**
 * `settle` runs before a step is judged: a wizard whose errors include the back end's answer to a
 * preview waits for the preview of the values as typed, so that a stale answer never blocks.
 */
export function createWizard(describe: () => WizardStep[], settle: () => Promise<void> = async () => undefined): Wizard {
  const steps = computed(describe)
  const step = ref(0)
  const attempted = ref(new Set<number>())
  /** Steps the user has been on: only those get a check mark. */
  const visited = ref(new Set<number>([0]))
  watch(step, (s) => (visited.value = new Set(visited.value).add(s)))

  const last = computed(() => steps.value.length - 1)
  const current = computed(() => steps.value[step.value]!)
  const isReview = computed(() => step.value === last.value)
  const firstInvalid = computed(() => {
    const i = steps.value.slice(0, -1).findIndex((s) => s.errors.length > 0)
    return i < 0 ? last.value : i
  })

  return {
    steps,
    step,
    current,
    isReview,
    attempted,
    firstInvalid,
    isDone: (i) => i < firstInvalid.value && i !== step.value && i < last.value && visited.value.has(i),
    needsAttention: (i) => i !== step.value && i < last.value && attempted.value.has(i) && steps.value[i]!.errors.length > 0,
    reachable: (i) => i <= firstInvalid.value || i <= step.value,
    go(i) {
      step.value = i
    },
    async next() {
      await settle()
      attempted.value = new Set(attempted.value).add(step.value)
      if (current.value.errors.length > 0) return false
      if (step.value < last.value) step.value++
      return true
    },
    async attemptAll() {
      attempted.value = new Set(steps.value.map((_, i) => i))
      await settle()
      return firstInvalid.value < last.value ? firstInvalid.value : null
    },
    jump(i) {
      step.value = i
      visited.value = new Set([...visited.value, ...Array.from({ length: i + 1 }, (_, j) => j)])
    },
    reset() {
      step.value = 0
      attempted.value = new Set()
      visited.value = new Set([0])
    },
  }
}
