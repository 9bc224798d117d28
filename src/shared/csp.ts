// The one Content-Security-Policy of the app's page, sent as a response header by both hosts:
// the web server (src/server/web-server.ts) on everything it serves, and the Electron main process
// (src/main/index.ts, through cspHeaders in window-options.ts) on the window's own page. A header
// rather than a <meta>, because frame-ancestors (no framing: clickjacking) only works in a header,
// and a <meta> carrying it makes Chromium log an error on every load.
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
