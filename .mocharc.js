'use strict';
// The spec reporter with counts for CI (scripts/mocha-reporter.js). No retries
// and no --exit: a test that hangs is a leak to fix.
module.exports = {
  spec: ['dist/test/**/*.test.js'],
  timeout: 20000,
  'node-option': ['expose-gc'],
  reporter: `${__dirname}/scripts/mocha-reporter.js`,
};
