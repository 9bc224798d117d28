// Serves the built renderer (out/renderer). Paths are resolved inside that folder only:
// anything that would land outside it (../, encoded or not) is refused.
import { createReadStream, existsSync, statSync } from 'node:fs'
import type { ServerResponse } from 'node:http'
import { extname, join, resolve, sep } from 'node:path'

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
}

/** Resolves a URL path inside `root`, or returns null when it would escape it. */
export function resolveInside(root: string, urlPath: string): string | null {
  let decoded: string
  try {
    decoded = decodeURIComponent(urlPath)
  } catch {
    return null
  }
  if (decoded.includes('\0')) return null
  const base = resolve(root)
  const full = resolve(base, '.' + (decoded.startsWith('/') ? decoded : '/' + decoded))
  return full === base || full.startsWith(base + sep) ? full : null
}

export function serveStatic(root: string, urlPath: string, res: ServerResponse, headers: Record<string, string>): void {
  const target = resolveInside(root, urlPath === '/' ? '/index.html' : urlPath)
  if (!target) {
    res.writeHead(403, { 'content-type': 'text/plain' }).end('Forbidden: that path is outside the app.')
    return
  }
  // Client-side routes (/runs/3) get the app's index.html.
  const file = existsSync(target) && statSync(target).isFile() ? target : join(root, 'index.html')
  if (!existsSync(file)) {
    res
      .writeHead(500, { 'content-type': 'text/plain' })
      .end(`The renderer is not built (${root} is missing). Run "npm run build" first.`)
    return
  }
  res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', ...headers })
  // A file removed or unreadable between the check and the read must end this one response,
  // not throw an unhandled 'error' that would end the server.
  createReadStream(file)
    .on('error', () => res.destroy())
    .pipe(res)
}
