import { test, describe, it } from 'node:test'
import assert from 'node:assert'

// The only failure of this file is the parent's own: its subtests all pass.
test('parent throws after its subtests pass', async (t) => {
  await t.test('child ok', () => {})
  await t.test('second child ok', () => {})
  throw new Error('parent broke <after> its children')
})

test('plain ok', () => {})

describe('group', () => {
  it('passes', () => {})
  it('is skipped', { skip: true }, () => {})
})
