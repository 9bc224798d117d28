// better-sqlite3 is a native module: Node (CLI, web mode, tests) and Electron need builds for
// different ABIs. node_modules keeps the Node build; the Electron build lives in
// build/electron/better_sqlite3.node (made by `npm run build:electron-native`) and is loaded
// through better-sqlite3's nativeBinding option, so both work at once.
import { existsSync } from 'node:fs'
import { join } from 'node:path'

export function electronSqliteBinding(appRoot: string): string | undefined {
  const p = join(appRoot, 'build', 'electron', 'better_sqlite3.node')
  return existsSync(p) ? p : undefined
}
