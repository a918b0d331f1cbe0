module.exports = { testDir: 'tests', retries: 2, workers: 1, reporter: [['list'], ['junit', { outputFile: 'report.xml' }]] };
