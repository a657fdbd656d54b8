import { defineConfig } from 'vitest/config';

// Tests run against each package's TypeScript source (the `tunemesh-source` export condition), so no build is
// needed first.
export default defineConfig({
  resolve: { conditions: ['tunemesh-source', 'import', 'module', 'node', 'default'] },
  ssr: {
    resolve: { conditions: ['tunemesh-source', 'import', 'node', 'default'], externalConditions: ['tunemesh-source'] },
  },
  test: {
    include: [
      'packages/*/src/**/*.test.ts',
      'services/*/src/**/*.test.ts',
      'proto/src/**/*.test.ts',
      'tests/**/*.test.ts',
    ],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default', './scripts/summary-reporter.ts'],
  },
});
