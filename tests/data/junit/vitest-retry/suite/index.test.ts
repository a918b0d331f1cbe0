// This file fails to import: Vitest reports the file as failed and runs none of its tests.
import { describe, expect, test } from 'vitest';
import { missing } from './does-not-exist';

describe('index', () => {
  test('never runs', () => { expect(missing).toBe(1); });
});
