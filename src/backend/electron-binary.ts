// Finds Electron's binary without triggering its first-run download (requiring 'electron'
// from Node would try to download it, which fails where there is no route to its host).
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'

export interface ElectronBinary {
  present: boolean
  path: string | null
  note: string
}

export function findElectronBinary(): ElectronBinary {
  let pkgDir: string
  try {
    pkgDir = dirname(createRequire(import.meta.url).resolve('electron/package.json'))
  } catch {
    return { present: false, path: null, note: 'the electron package is not installed (run the set-up command)' }
  }
  if (process.env.ELECTRON_OVERRIDE_DIST_PATH) {
    const p = join(process.env.ELECTRON_OVERRIDE_DIST_PATH, 'electron')
    return existsSync(p)
      ? { present: true, path: p, note: 'from ELECTRON_OVERRIDE_DIST_PATH' }
      : { present: false, path: p, note: 'ELECTRON_OVERRIDE_DIST_PATH names no electron binary' }
  }
  const pathFile = join(pkgDir, 'path.txt')
  if (!existsSync(pathFile)) {
    return {
      present: false,
      path: null,
      note: "Electron's binary has not been downloaded (it is fetched on first run); web mode works without it",
    }
  }
  const bin = join(pkgDir, 'dist', readFileSync(pathFile, 'utf8').trim())
  return existsSync(bin)
    ? { present: true, path: bin, note: 'downloaded' }
    : { present: false, path: bin, note: `path.txt names ${bin}, which is missing` }
}
