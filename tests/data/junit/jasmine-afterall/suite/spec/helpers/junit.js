// Writes out/report.xml with jasmine-reporters' JUnitXmlReporter (one file for every suite).
const reporters = require('jasmine-reporters');
jasmine.getEnv().addReporter(new reporters.JUnitXmlReporter({
  savePath: __dirname + '/../../out', consolidateAll: true, filePrefix: 'report',
}));
