#!/usr/bin/env bash
# Runs the core tests (dist/test/ssl/*.test.js) under valgrind memcheck and
# fails on any invalid read/write/free, or on a definite leak allocated through
# memtls's own code (memtls.node / native/*.cc). Leaks that belong to node, V8
# or OpenSSL alone are counted and ignored (node does not free everything at
# exit). The verdict is computed by scripts/valgrind-verdict.js from
# memcheck's XML output.
#
# The addon tested is build/Release/memtls.node (read only) unless
# MEMTLS_ADDON names another build. Child node processes started by the tests
# (the GC churn helper) are traced as well; openssl/curl/sh children are not.
# Extra arguments replace the default list of test files.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
say() { printf '[test:valgrind] %s\n' "$*"; }
started=$SECONDS

# valgrind itself: install it when missing, like prepare-test-env.js does for
# the openssl and curl peers.
if ! command -v valgrind >/dev/null 2>&1; then
  command -v apt-get >/dev/null 2>&1 || { say "valgrind is required (install it with your package manager)"; exit 1; }
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  say "installing valgrind"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update &&
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y valgrind || exit 1
fi

say "compiling TypeScript"
npx tsc -p . || exit 1
node scripts/prepare-test-env.js || exit 1

out_dir="${MEMTLS_VALGRIND_DIR:-${TMPDIR:-/tmp}/memtls-valgrind}"
rm -rf "$out_dir"
mkdir -p "$out_dir"

if [ "$#" -gt 0 ]; then specs=("$@"); else specs=(dist/test/ssl/*.test.js); fi

# mocha's bin/mocha.js re-spawns node to apply .mocharc's node-option; run the
# in-process CLI instead, with --expose-gc given to node directly, so the tests
# run in the process valgrind is watching.
say "running ${#specs[@]} test files under valgrind (XML in $out_dir)"
test_started=$SECONDS
MEMTLS_MOCHA_JSON="$out_dir/mocha-counts.json" \
  valgrind --tool=memcheck \
  --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \
  --num-callers=40 \
  --trace-children=yes --trace-children-skip='*/openssl,*/curl,*/sh,*/bash' \
  --xml=yes --xml-file="$out_dir/memcheck.%p.xml" \
  --log-file="$out_dir/memcheck.%p.log" \
  node --expose-gc node_modules/mocha/lib/cli/cli.js --timeout 120000 "${specs[@]}" 2>&1 | tee "$out_dir/mocha.log"
mocha_status=${PIPESTATUS[0]}
test_seconds=$((SECONDS - test_started))

echo
say "---- summary ----"
if [ -f "$out_dir/mocha-counts.json" ]; then
  node -e '
    const s = require(process.argv[1]).stats;
    console.log(`[test:valgrind] tests: ${s.passes} passed, ${s.failures} failed, ${s.pending} pending (of ${s.tests})`);
  ' "$out_dir/mocha-counts.json"
else
  say "tests: no counts written (mocha died before the end of the run)"
fi
node scripts/valgrind-verdict.js "$out_dir"/memcheck.*.xml
verdict=$?
say "mocha exit status: $mocha_status; test time ${test_seconds}s; total $((SECONDS - started))s"
if [ "$mocha_status" -eq 0 ] && [ "$verdict" -eq 0 ] && [ -f "$out_dir/mocha-counts.json" ]; then
  say "PASS"
  exit 0
fi
say "FAIL (logs: $out_dir)"
exit 1
