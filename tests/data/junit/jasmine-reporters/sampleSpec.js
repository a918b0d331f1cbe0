describe('sample', function () {
  it('ok', function () { expect(1).toBe(1); });
  it('always fails', function () { expect(1).toBe(2); });
  [1, 2, 3].forEach(function (x) { it('param ' + x, function () { expect(x).not.toBe(2); }); });
  xit('skipped', function () {});
  describe('group', function () {
    it('same name', function () { expect(true).toBe(true); });
    it('same name', function () { expect(true).toBe(false); });
  });
});
