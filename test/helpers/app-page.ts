// The app end to end in web mode: a real `mxd web` (see web-process.ts) and the built renderer in
// Debian's Chromium (see chromium.ts), one light-themed page that records its errors, a
// screenshot helper writing to test-results/screenshots/, and one teardown for all of it.
import { mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { launchChromium } from './chromium.js'
import { repoRoot, startWebProcess, type WebProcess } from './web-process.js'

export const SHOTS = join(repoRoot, 'test-results/screenshots')

export interface AppPageOptions {
  /** Extra environment for `mxd web` (an empty Hugging Face cache, say). */
  env?: NodeJS.ProcessEnv
  /** The store to serve; a fresh temp one when left out. */
  store?: string
  /** The page's size; 1280 × 860 when left out. */
  viewport?: { width: number; height: number }
  /** Whether `shot` captures the whole scrollable page rather than the viewport. */
  fullPage?: boolean
  /** Paths removed (recursively) by `close`, after the browser and the back end stopped; read at close time. */
  cleanup?: string[]
}

export interface AppPage {
  web: WebProcess
  browser: Browser
  context: BrowserContext
  page: Page
  /** Uncaught page errors and console errors, in order. */
  pageErrors: string[]
  /** Saves test-results/screenshots/<name>.png of `p` (the app page by default). */
  shot(name: string, p?: Page): Promise<void>
  /** Closes the browser, stops `mxd web` and removes the `cleanup` paths. */
  close(): Promise<void>
}

export async function openApp(opts: AppPageOptions = {}): Promise<AppPage> {
  mkdirSync(SHOTS, { recursive: true })
  let web: WebProcess | undefined
  let browser: Browser | undefined
  const close = async (): Promise<void> => {
    await browser?.close()
    await web?.stop()
    for (const d of opts.cleanup ?? []) rmSync(d, { recursive: true, force: true })
  }
  try {
    web = await startWebProcess({ store: opts.store, env: opts.env })
    browser = await launchChromium()
    const context = await browser.newContext({ viewport: opts.viewport ?? { width: 1280, height: 860 }, colorScheme: 'light' })
    const page = await context.newPage()
    // The machine may be busy (other jobs share its cores): be patient with waits.
    page.setDefaultTimeout(60_000)
    const pageErrors: string[] = []
    page.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.message}`))
    page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(`console: ${m.text()}`)
    })
    const shot = async (name: string, p: Page = page): Promise<void> => {
      await p.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: opts.fullPage ?? false })
    }
    return { web, browser, context, page, pageErrors, shot, close }
  } catch (e) {
    await close()
    throw e
  }
}
