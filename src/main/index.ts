// Electron's main process, kept thin: a hardened window, the IPC bridge to the back end, menus.
// Everything else lives in plain modules (src/backend, src/store, src/jobs, src/engine).
import { app, BrowserWindow, dialog, ipcMain, Menu, session, shell } from 'electron'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Backend } from '../backend/backend.js'
import { parseBackendName } from '../engine/backend.js'
import { bundledWorkerFactory } from '../jobs/spawn.js'
import { IPC_CALL_PREFIX, IPC_EVENT_CHANNEL, methodNames } from '../shared/methods.js'
import { electronSqliteBinding } from './native.js'
import { cspHeaders, windowOptions } from './window-options.js'

const here = fileURLToPath(new URL('.', import.meta.url))

function storeDirFromArgs(): string {
  const i = process.argv.indexOf('--store')
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : (process.env.MXD_HOME ?? app.getPath('userData'))
}

async function start(): Promise<void> {
  const backendArg = process.argv.indexOf('--backend')
  const backend = await Backend.create({
    storeDir: storeDirFromArgs(),
    nativeBinding: electronSqliteBinding(app.getAppPath()),
    workerFactory: bundledWorkerFactory(here),
    backend: parseBackendName(backendArg > 0 ? process.argv[backendArg + 1] : undefined),
    electronVersion: process.versions.electron ?? null,
    restoreQueue: true,
  })

  const appUrl = process.env.ELECTRON_RENDERER_URL
  // Only our own page may call the back end.
  const trusted = (url: string): boolean => (appUrl ? url.startsWith(appUrl) : url.startsWith('file://'))
  // The page's Content-Security-Policy comes as a header, as in web mode (src/shared/csp.ts); set
  // before the window exists so its first load already carries it. Electron's webRequest sees
  // file:// loads too.
  session.defaultSession.webRequest.onHeadersReceived((details, callback) => {
    callback(trusted(details.url) ? { responseHeaders: cspHeaders(details.responseHeaders) } : {})
  })
  const win = new BrowserWindow(windowOptions(join(here, '../preload/index.cjs')))
  for (const m of methodNames) {
    ipcMain.handle(IPC_CALL_PREFIX + m, (e, input: unknown) => {
      if (!trusted(e.senderFrame?.url ?? '')) return { ok: false, error: { code: 'unauthorized', message: 'Untrusted frame.' } }
      return backend.dispatch(m, input)
    })
  }
  const unsubscribe = backend.subscribe((event) => win.webContents.send(IPC_EVENT_CHANNEL, event))
  win.webContents.setWindowOpenHandler(({ url }) => {
    if (url.startsWith('https://')) void shell.openExternal(url)
    return { action: 'deny' }
  })
  win.webContents.on('will-navigate', (e, url) => {
    if (!trusted(url)) e.preventDefault()
  })
  win.once('ready-to-show', () => win.show())
  win.on('closed', () => unsubscribe())
  if (appUrl) await win.loadURL(appUrl)
  else await win.loadFile(join(here, '../renderer/index.html'))

  Menu.setApplicationMenu(
    Menu.buildFromTemplate([
      { role: 'fileMenu' },
      { role: 'editMenu' },
      { role: 'viewMenu' },
      { role: 'windowMenu' },
      { role: 'help', submenu: [{ label: 'MxD Studio on disk', click: () => void shell.openPath(backend.ctx.store.dir) }] },
    ]),
  )
  app.on('before-quit', () => void backend.close())
}

app.whenReady().then(start, (err: unknown) => {
  dialog.showErrorBox('MxD Studio could not start', err instanceof Error ? err.message : String(err))
  app.exit(1)
})
app.on('window-all-closed', () => app.quit())
