import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    reporters: ['default', './test/helpers/summary-reporter.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
          // expect.poll's default (1 s) is a guess about the machine's speed; on a loaded CI box a
          // UI update can take longer, so polls wait as long as a test may.
          expect: { poll: { timeout: 30_000, interval: 50 } },
        },
      },
      {
        // Real processes, real Chromium: one file at a time so they do not fight for 2 cores.
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          environment: 'node',
          testTimeout: 180_000,
          hookTimeout: 120_000,
          fileParallelism: false,
          expect: { poll: { timeout: 60_000, interval: 50 } },
        },
      },
    ],
  },
})
