// The app window's security settings, kept free of Electron imports so a test can check them.
import type { BrowserWindowConstructorOptions } from 'electron'
import { CSP } from '../shared/csp.js'

export function windowOptions(preloadPath: string): BrowserWindowConstructorOptions {
  return {
    width: 1280,
    height: 820,
    minWidth: 900,
    minHeight: 600,
    show: false,
    title: 'MxD Studio',
    autoHideMenuBar: false,
    webPreferences: {
      preload: preloadPath,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      spellcheck: false,
    },
  }
}

/**
 * The response headers of the window's own page with the app's one Content-Security-Policy in
 * place of any the response carried (src/shared/csp.ts; the same string the web server sends).
 */
export function cspHeaders(headers: Record<string, string[]> | undefined): Record<string, string[]> {
  const out = Object.fromEntries(Object.entries(headers ?? {}).filter(([k]) => k.toLowerCase() !== 'content-security-policy'))
  return { ...out, 'Content-Security-Policy': [CSP] }
}
