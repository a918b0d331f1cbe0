// This file fails to import: jest reports the suite as failed to run and runs none of its tests.
const { missing } = require('./does-not-exist');

test('never runs', () => { expect(missing).toBe(1); });
