// A small suite for node 20's built-in runner (`node --test --test-reporter=junit`): passes,
// failures, a thrown error, skips, todos, subtests, subtests cancelled because their parent
// ended first or timed out, and two passing tests with the same name.
import { describe, it, test } from 'node:test';
import assert from 'node:assert/strict';

const add = (a, b) => a + b;

describe('add', () => {
  it('adds small numbers', () => { assert.equal(add(1, 2), 3); });
  it('adds negatives', () => { assert.equal(add(-1, -2), -3); });
  it('adds zero', () => { assert.equal(add(0, 5), 5); });
  for (const n of [1, 2, 3, 4, 5]) it(`adds ${n} to itself`, () => { assert.equal(add(n, n), 2 * n); });
  it('is commutative', () => { assert.equal(add(2, 7), add(7, 2)); });
  it('same name', () => { assert.equal(add(1, 1), 2); });
  it('same name', () => { assert.equal(add(2, 2), 4); });
  it('fails', () => { assert.equal(add(1, 1), 3); });
  it('throws', () => { throw new TypeError('undefined is not a function'); });
  it.skip('skipped', () => { assert.fail('never'); });
  it.todo('a todo');
});

test('parent that does not await its subtests', (t) => {
  t.test('cancelled subtest one', async () => { await new Promise((r) => setTimeout(r, 50)); });
  t.test('cancelled subtest two', async () => { await new Promise((r) => setTimeout(r, 50)); });
});

test('parent that times out', { timeout: 50 }, async (t) => {
  await t.test('finishes in time', () => {});
  await t.test('runs past the timeout', async () => { await new Promise((r) => setTimeout(r, 500)); });
});
