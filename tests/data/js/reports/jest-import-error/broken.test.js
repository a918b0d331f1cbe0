// A PR renamed ./currency.js: this file no longer loads, and none of its tests run.
const { format } = require('./currency')
test('formats cents', () => expect(format(150)).toBe('1.50'))
