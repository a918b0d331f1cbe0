/** @type {import('jest').Config} */
const config = {
  reporters: process.env.GITHUB_ACTIONS ? ['default', ['jest-junit', { outputName: 'junit.xml', addFileAttribute: 'true', classNameTemplate: '{filepath}', reportTestSuiteErrors: 'true' }]] : ['default'],
  testEnvironment: 'node',
};

module.exports = config;
