// A small suite for jasmine 7 + jasmine-reporters: passes, failures, thrown errors, pending
// specs, and two suites whose afterAll throws (jasmine counts each as a failure of its own).
const add = (a, b) => a + b;

describe('add', function () {
  it('adds small numbers', function () { expect(add(1, 2)).toBe(3); });
  it('adds negatives', function () { expect(add(-1, -2)).toBe(-3); });
  it('adds zero', function () { expect(add(0, 5)).toBe(5); });
  [1, 2, 3, 4, 5].forEach(function (n) {
    it('adds ' + n + ' to itself', function () { expect(add(n, n)).toBe(2 * n); });
  });
  it('is commutative', function () { expect(add(2, 7)).toBe(add(7, 2)); });
  it('fails', function () { expect(add(1, 1)).toBe(3); });
  it('throws', function () { throw new TypeError('undefined is not a function'); });
  xit('is pending', function () { expect(true).toBe(false); });
});

describe('cleanup that throws', function () {
  afterAll(function () { throw new Error('could not remove the temporary directory'); });
  it('passes before the cleanup', function () { expect(true).toBe(true); });
  it('fails before the cleanup', function () { expect(1).toBe(2); });
});
