import { afterAll, describe, expect, test } from 'vitest';

const upper = (s: string) => s.toUpperCase();

describe('upper', () => {
  test('upper-cases ascii', () => { expect(upper('abc')).toBe('ABC'); });
  test('keeps digits', () => { expect(upper('a1')).toBe('A1'); });
  test('handles empty', () => { expect(upper('')).toBe(''); });
  test('handles unicode', () => { expect(upper('straße')).toBe('STRASSE'); });
  test('wrong expectation', () => { expect(upper('abc')).toBe('abc'); });
  test('another wrong expectation', () => { expect(upper('x')).toBe('y'); });
  test('a third wrong expectation', () => { expect(upper('q')).toEqual(['Q']); });
  test('rejects a promise', async () => { await Promise.reject(new Error('network down')); });
  test('times out', () => new Promise((resolve) => setTimeout(resolve, 10000)), 50);
  test('null input throws', () => { upper(null as unknown as string); });
  test('checks length', () => { expect(upper('abcd')).toHaveLength(3); });
  test.skip('skipped string test', () => {});
  test('trims nothing', () => { expect(upper(' a ')).toBe(' A '); });

  describe('with a broken fixture', () => {
    afterAll(() => { throw new Error('fixture teardown failed'); });
    test('nested pass', () => { expect(true).toBe(true); });
  });
});
