const { toCents, total, format } = require('./money');

describe('toCents', () => {
  test('reads dollars and cents', () => {
    expect(toCents('12.30')).toBe(1230);
  });
  test.each([['0.10', 10], ['1.005', 101], ['19.99', 1999]])('reads %s', (text, cents) => {
    expect(toCents(text)).toBe(cents);
  });
});

describe('total', () => {
  test('adds line items', () => {
    expect(total([{ price: '1.10', quantity: 3 }, { price: '0.05', quantity: 2 }])).toBe(340);
  });
});

describe('format', () => {
  test('always shows two decimals', () => {
    expect(format(1230)).toBe('12.30');
  });
  test.skip('uses the locale separator', () => {});
});
