import { resolve } from 'node:path'
import vue from '@vitejs/plugin-vue'
import { defineConfig } from 'electron-vite'
import { cspMetaTag } from './src/shared/csp.js'

export default defineConfig({
  main: {
    build: {
      rollupOptions: {
        // Each worker is its own entry: worker threads load them as separate files (src/jobs/spawn.ts).
        input: {
          index: resolve('src/main/index.ts'),
          worker: resolve('src/jobs/worker.ts'),
          'engine-worker': resolve('src/jobs/engine-worker.ts'),
          'decode-worker': resolve('src/data/images/decode-worker.mjs'),
        },
      },
    },
  },
  preload: {
    build: {
      rollupOptions: {
        input: { index: resolve('src/preload/index.ts') },
        // Sandboxed preloads must be CommonJS.
        output: { format: 'cjs', entryFileNames: '[name].cjs' },
      },
    },
  },
  renderer: {
    root: resolve('src/renderer'),
    // The page's policy as a <meta> too (src/shared/csp.ts says why), from the one definition.
    plugins: [vue(), { name: 'mxd-csp-meta', transformIndexHtml: (html: string) => html.replace('<head>', `<head>\n    ${cspMetaTag()}`) }],
    build: { rollupOptions: { input: resolve('src/renderer/index.html') } },
  },
})
