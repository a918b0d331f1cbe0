const sum = require('./sum')
test('adds zero', () => expect(sum(0, 5)).toBe(5))
