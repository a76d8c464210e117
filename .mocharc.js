'use strict';
// The spec reporter with counts for CI (scripts/mocha-reporter.js). No retries
// and no --exit: a test that hangs is a leak to fix. Files named on the
// command line replace the default spec (mocha would otherwise add them).
const named = process.argv.slice(2).some((arg) => /\.test\.js$/.test(arg) || arg.includes('*'));
module.exports = {
  ...(named ? {} : { spec: ['dist/test/**/*.test.js'] }),
  timeout: 20000,
  'node-option': ['expose-gc'],
  reporter: `${__dirname}/scripts/mocha-reporter.js`,
};
