const upper = (s) => s.toUpperCase();

describe('upper', function () {
  it('upper-cases ascii', function () { expect(upper('abc')).toBe('ABC'); });
  it('keeps digits', function () { expect(upper('a1')).toBe('A1'); });
  it('handles empty', function () { expect(upper('')).toBe(''); });
  it('handles unicode', function () { expect(upper('straße')).toBe('STRASSE'); });
  it('wrong expectation', function () { expect(upper('abc')).toBe('abc'); });
  it('another wrong expectation', function () { expect(upper('x')).toBe('y'); });
  it('a third wrong expectation', function () { expect(upper('q')).toEqual(['Q']); });
  it('rejects a promise', async function () { await Promise.reject(new Error('network down')); });
  it('null input throws', function () { upper(null); });
  it('checks length', function () { expect(upper('abcd').length).toBe(3); });
  it('fails twice in one spec', function () { expect(1).toBe(2); expect(3).toBe(4); });
  xit('pending string spec', function () {});
  it('trims nothing', function () { expect(upper(' a ')).toBe(' A '); });

  describe('with a broken fixture', function () {
    afterAll(function () { throw new Error('fixture teardown failed'); });
    it('nested pass', function () { expect(true).toBe(true); });
    it('nested failure', function () { expect(false).toBe(true); });
  });
});
