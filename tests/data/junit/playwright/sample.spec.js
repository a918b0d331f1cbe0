const { test, expect } = require('@playwright/test');
test('ok', async () => { expect(1).toBe(1); });
test('always fails', async () => { expect(1).toBe(2); });
test('flaky passes on retry', async ({}, testInfo) => { expect(testInfo.retry).toBeGreaterThan(0); });
for (const x of [1, 2, 3]) test(`param ${x}`, async () => { expect(x).not.toBe(2); });
test.skip('skipped', async () => {});
test.describe('group', () => {
  test('same name', async () => { expect(true).toBe(true); });
});
