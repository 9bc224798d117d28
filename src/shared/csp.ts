// The one Content-Security-Policy of the app's page, sent as a response header by both hosts:
// the web server (src/server/web-server.ts) on everything it serves, and the Electron main process
// (src/main/index.ts, through cspHeaders in window-options.ts) on the window's own page. A header,
// because frame-ancestors (no framing: clickjacking) only works in a header. The built page also
// carries the same policy less frame-ancestors as a <meta> (CSP_META, put in by the renderer build
// in electron.vite.config.ts): Electron's documentation does not promise that webRequest headers
// reach a file:// page, and a packaged window must never run without a policy. A <meta> carrying
// frame-ancestors would make Chromium log an error on every load, hence the one directive less.
//
// What the renderer needs and no more: its own scripts (no inline, no eval), the WebSocket to the
// local back end in web mode, and data: images. style-src keeps 'unsafe-inline' because the dev
// server (npm start) injects each component's CSS as a <style> tag; the built page would not need
// it, but one policy for both beats a second string, and styles cannot run script.
const DIRECTIVES: readonly (readonly [string, ...string[]])[] = [
  ['default-src', "'self'"],
  ['script-src', "'self'"],
  ['style-src', "'self'", "'unsafe-inline'"],
  ['img-src', "'self'", 'data:'],
  ['connect-src', "'self'", 'ws://127.0.0.1:*'],
  ['object-src', "'none'"],
  ['base-uri', "'none'"],
  ['frame-ancestors', "'none'"],
  ['form-action', "'none'"],
]

export const CSP: string = DIRECTIVES.map((d) => d.join(' ')).join('; ')

/** The policy a <meta> can carry: CSP without frame-ancestors (ignored, and an error, in a <meta>). */
export const CSP_META: string = DIRECTIVES.filter(([name]) => name !== 'frame-ancestors')
  .map((d) => d.join(' '))
  .join('; ')

/** The <meta> the renderer build puts first in the page's <head>. */
export function cspMetaTag(): string {
  return `<meta http-equiv="Content-Security-Policy" content="${CSP_META}" />`
}
