'use strict';
// Mocha's spec output plus one machine-readable line at the end, "N passed, N failed", which CI
// reads (mocha itself prints "passing"/"failing"). Pending tests are reported on their own line.
// When SUMMARY_FILE is set the same line is also written there, so .ci/run can print it last.
const Mocha = require('mocha');
const fs = require('fs');

const { EVENT_RUN_END } = Mocha.Runner.constants;

class SummaryReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once(EVENT_RUN_END, () => {
      const s = runner.stats || { passes: 0, failures: 0, pending: 0 };
      if (s.pending) console.log(`${s.pending} pending`);
      const line = `${s.passes} passed, ${s.failures} failed`;
      console.log(line);
      if (process.env.SUMMARY_FILE) fs.writeFileSync(process.env.SUMMARY_FILE, line + '\n');
    });
  }
}

module.exports = SummaryReporter;
