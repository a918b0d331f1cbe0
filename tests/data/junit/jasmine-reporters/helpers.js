const reporters = require('jasmine-reporters');
jasmine.getEnv().addReporter(new reporters.JUnitXmlReporter({ savePath: __dirname + '/..', consolidateAll: true, filePrefix: 'report' }));
