const assert = require('assert');
let flaky = 0;
describe('sample', function () {
  it('ok', function () { assert.strictEqual(1, 1); });
  it('always fails', function () { this.retries(2); assert.strictEqual(1, 2); });
  it('flaky passes on retry', function () { this.retries(2); flaky += 1; assert.ok(flaky > 1); });
  [1, 2, 3].forEach((x) => it('param ' + x, function () { assert.notStrictEqual(x, 2); }));
  it.skip('skipped', function () {});
  it('pending without body');
  describe('group', function () {
    it('same name', function () { assert.ok(true); });
    it('same name', function () { assert.ok(false); });
  });
});
