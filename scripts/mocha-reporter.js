'use strict';
// mocha's spec reporter, plus mocha's own counts written as JSON to the file
// named by MEMTLS_MOCHA_JSON, so CI can print a plain "N passed, M failed".
const fs = require('node:fs');
const Mocha = require('mocha');

const { Spec } = Mocha.reporters;
const { EVENT_RUN_END } = Mocha.Runner.constants;

class CountingSpec extends Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once(EVENT_RUN_END, () => {
      const target = process.env.MEMTLS_MOCHA_JSON;
      if (target) fs.writeFileSync(target, JSON.stringify({ stats: this.stats }));
    });
  }
}

module.exports = CountingSpec;
