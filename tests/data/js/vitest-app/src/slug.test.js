import { describe, expect, test } from 'vitest';
import { slugify, titleCase } from './slug.js';

describe('slugify', () => {
  test('joins lowercase words with hyphens', () => {
    expect(slugify('Hello World')).toBe('hello-world');
  });
  test('removes accents', () => {
    expect(slugify('Crème Brûlée!')).toBe('creme-brulee');
  });
  test('cuts long slugs at a word boundary', () => {
    expect(slugify('one two three four', { maxLength: 9 })).toBe('one-two');
  });
  test('gives an empty slug for punctuation only', () => {
    expect(slugify('?!')).toBe('');
  });
});

describe('titleCase', () => {
  test('capitalizes each word', () => {
    expect(titleCase('the quick fox')).toBe('The Quick Fox');
  });
  test.todo('keeps small words lowercase');
});
