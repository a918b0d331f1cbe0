import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    retry: 2,
    include: ['src/**/*.test.ts'],
    reporters: [
      'default',
      ['junit', { suiteName: 'web unit tests', classnameTemplate: 'web.{filename}', addFileAttribute: true }],
    ],
    outputFile: { junit: 'out/custom.xml' },
  },
});
