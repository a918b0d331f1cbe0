// A small suite for jest 30 + jest-junit 17 with jest.retryTimes: passes, failures, a thrown
// error, skips, a todo, tests that pass on a retry, tests that fail on every attempt, and two
// passing tests with the same name.
jest.retryTimes(2);

const add = (a, b) => a + b;
let flakyA = 0;
let flakyB = 0;

describe('add', () => {
  test('adds small numbers', () => { expect(add(1, 2)).toBe(3); });
  test('adds negatives', () => { expect(add(-1, -2)).toBe(-3); });
  test('adds zero', () => { expect(add(0, 5)).toBe(5); });
  test.each([1, 2, 3, 4, 5])('adds %i to itself', (n) => { expect(add(n, n)).toBe(2 * n); });
  test('is commutative', () => { expect(add(2, 7)).toBe(add(7, 2)); });
  test('same name', () => { expect(add(1, 1)).toBe(2); });
  test('same name', () => { expect(add(2, 2)).toBe(4); });
});

describe('retries', () => {
  test('passes on the second attempt', () => { flakyA += 1; expect(flakyA).toBeGreaterThan(1); });
  test('passes on the third attempt', () => { flakyB += 1; expect(flakyB).toBeGreaterThan(2); });
  test('fails on every attempt', () => { expect(add(1, 1)).toBe(3); });
  test('throws on every attempt', () => { throw new TypeError('undefined is not a function'); });
});

describe('skips', () => {
  test.skip('skipped with test.skip', () => { expect(true).toBe(false); });
  test.todo('a todo');
});
