// Light / dark theme: follows the OS until the user picks one; the pick is remembered.
import { defineStore } from 'pinia'
import { computed, ref, watchEffect } from 'vue'

export type ThemeSetting = 'system' | 'light' | 'dark'
const KEY = 'mxd-theme'

function readSetting(): ThemeSetting {
  try {
    const v = localStorage.getItem(KEY)
    return v === 'light' || v === 'dark' ? v : 'system'
  } catch {
    return 'system'
  }
}

export const useThemeStore = defineStore('theme', () => {
  const setting = ref<ThemeSetting>(readSetting())
  const media = window.matchMedia('(prefers-color-scheme: dark)')
  const osDark = ref(media.matches)
  media.addEventListener('change', (e) => (osDark.value = e.matches))

  const effective = computed<'light' | 'dark'>(() =>
    setting.value === 'system' ? (osDark.value ? 'dark' : 'light') : setting.value,
  )

  watchEffect(() => {
    document.documentElement.dataset.theme = effective.value
    try {
      if (setting.value === 'system') localStorage.removeItem(KEY)
      else localStorage.setItem(KEY, setting.value)
    } catch {
      /* storage unavailable: the choice lasts for this window */
    }
  })

  /** System → the opposite of what the OS shows → back to the OS's own choice. */
  function toggle(): void {
    if (setting.value === 'system') setting.value = osDark.value ? 'light' : 'dark'
    else setting.value = 'system'
  }
  function set(v: ThemeSetting): void {
    setting.value = v
  }
  return { setting, effective, toggle, set }
})
