#!/usr/bin/env node
// The `mxd` command. It runs the TypeScript sources through tsx, so the CLI, web mode and the
// tests all run exactly the code in src/ (the Electron app runs its bundled copy).
import { register } from 'tsx/esm/api'

register()
const { main } = await import('../src/cli/main.ts')
process.exitCode = await main(process.argv.slice(2))
