const assert = require('node:assert');
describe('sum', () => {
  it('adds', () => { assert.strictEqual(1 + 2, 3); });
  it('fails', () => { assert.strictEqual(1 + 2, 4); });
});
