// Connects to the back end first; only then mounts the app. When connecting fails (most often:
// the web page was opened without its per-launch token) a full-page error says how to fix it.
import { createPinia } from 'pinia'
import { createApp } from 'vue'
import App from './App.vue'
import ConnectError from './components/ConnectError.vue'
import { connect } from './api/client'
import { router } from './router'
import { useBackendStore } from './stores/backend'
import { useThemeStore } from './stores/theme'
import './styles/base.css'
import './styles/wizard.css'
import { errorMessage } from './lib/errors'

async function start(): Promise<void> {
  const pinia = createPinia()
  let conn: Awaited<ReturnType<typeof connect>>
  try {
    conn = await connect()
  } catch (err) {
    const errorApp = createApp(ConnectError, { message: errorMessage(err) })
    errorApp.use(pinia)
    useThemeStore(pinia)
    errorApp.mount('#app')
    return
  }
  const app = createApp(App)
  app.use(pinia)
  app.use(router)
  useThemeStore(pinia)
  const backend = useBackendStore(pinia)
  void backend.attach(conn)
  app.mount('#app')
}

void start()
