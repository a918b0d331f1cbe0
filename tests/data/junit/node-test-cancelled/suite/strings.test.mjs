import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

const upper = (s) => s.toUpperCase();

describe('upper', () => {
  it('upper-cases ascii', () => { assert.equal(upper('abc'), 'ABC'); });
  it('keeps digits', () => { assert.equal(upper('a1'), 'A1'); });
  it('handles empty', () => { assert.equal(upper(''), ''); });
  it('handles unicode', () => { assert.equal(upper('straße'), 'STRASSE'); });
  it('wrong expectation', () => { assert.equal(upper('abc'), 'abc'); });
  it('another wrong expectation', () => { assert.equal(upper('x'), 'y'); });
  it('a third wrong expectation', () => { assert.deepEqual(upper('q'), ['Q']); });
  it('rejects a promise', async () => { await Promise.reject(new Error('network down')); });
  it('null input throws', () => { upper(null); });
  it('times out on its own', { timeout: 50 }, async () => { await new Promise((r) => setTimeout(r, 500)); });
  it('checks length', () => { assert.equal(upper('abcd').length, 3); });
  it.skip('skipped string test', () => {});
  it('trims nothing', () => { assert.equal(upper(' a '), ' A '); });
  describe('nested', () => {
    it('nested pass', () => { assert.ok(true); });
    it('nested failure', () => { assert.ok(false); });
  });
});
