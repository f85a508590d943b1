import { defineConfig } from 'vitest/config';
import SummaryReporter from './test/support/summary-reporter.js';

export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', 'dist/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Builds the real worker, page library and demo once for the browser tests (test/browser/).
    globalSetup: ['./test/browser/global-setup.ts'],
    reporters: ['default', new SummaryReporter()],
  },
});
