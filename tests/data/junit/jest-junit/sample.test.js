const fs = require('fs');
jest.retryTimes(2);
let flaky = 0;
test('ok', () => { expect(1).toBe(1); });
test('always fails', () => { expect(1).toBe(2); });
test('flaky passes on retry', () => { flaky += 1; expect(flaky).toBeGreaterThan(1); });
test.each([1, 2, 3])('param %i', (x) => { expect(x).not.toBe(2); });
test.skip('skipped', () => {});
test.todo('todo later');
describe('group', () => {
  test('same name', () => { expect(true).toBe(true); });
  test('same name', () => { expect(true).toBe(false); });
});
