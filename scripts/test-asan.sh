#!/usr/bin/env bash
# Runs the core, protocol, interop, fuzz and identity-check tests against an AddressSanitizer +
# UndefinedBehaviorSanitizer build of the addon.
#
# The sanitized addon is built in its own directory (MEMTLS_ASAN_DIR, default
# $TMPDIR/memtls-asan) from a copy of binding.gyp and native/, so build/Release
# is never touched. The tests load it through MEMTLS_ADDON. Because node itself
# is not instrumented, the ASan/UBSan runtimes must be the first libraries in
# the process: they come in through LD_PRELOAD. Child processes the tests start
# (openssl, curl, a second node) inherit the preload; that is harmless for them
# (the runtime only replaces malloc) and leak detection is off for everyone, as
# node does not free everything at exit.
#
# Fails if the build fails, any test fails, or any sanitizer report shows up in
# the output (including reports from child processes).
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

build_dir="${MEMTLS_ASAN_DIR:-${TMPDIR:-/tmp}/memtls-asan}"
log="$build_dir/test-output.log"
counts="$build_dir/mocha-counts.json"

started=$SECONDS
say() { printf '[test:asan] %s\n' "$*"; }

# 1. Compile the TypeScript tests and make sure the peers/certs exist.
say "compiling TypeScript"
npx tsc -p . || exit 1
node scripts/prepare-test-env.js || exit 1

# 2. Build the sanitized addon in its own directory.
say "building sanitized addon in $build_dir"
mkdir -p "$build_dir/node_modules"
cp binding.gyp "$build_dir/"
rm -rf "$build_dir/native"
cp -r native "$build_dir/native"
ln -sfn "$root/node_modules/node-addon-api" "$build_dir/node_modules/node-addon-api"
# Use the same Node headers as the normal build (npm's `nodedir` setting, if any).
gyp_args=(rebuild --memtls_sanitize=true -j "$(nproc 2>/dev/null || echo 2)")
nodedir="${npm_config_nodedir:-$(npm config get nodedir 2>/dev/null || true)}"
case "$nodedir" in ''|undefined|null) ;; *) gyp_args+=(--nodedir="$nodedir") ;; esac
(
  cd "$build_dir" &&
    "$root/node_modules/.bin/node-gyp" "${gyp_args[@]}" >"$build_dir/build.log" 2>&1
) || { tail -n 40 "$build_dir/build.log"; say "FAIL: sanitized build failed (log: $build_dir/build.log)"; exit 1; }
addon="$build_dir/build/Release/memtls.node"
[ -f "$addon" ] || { say "FAIL: $addon was not produced"; exit 1; }
if ! nm -D "$addon" | grep '__asan_init' >/dev/null; then
  say "FAIL: $addon carries no ASan instrumentation"
  exit 1
fi

# 3. The runtimes matching the compiler that built the addon.
libasan="$(gcc -print-file-name=libasan.so)"
libubsan="$(gcc -print-file-name=libubsan.so)"
for lib in "$libasan" "$libubsan"; do
  [ -f "$lib" ] || { say "FAIL: sanitizer runtime not found: $lib"; exit 1; }
done
# Resolve the linker-script/symlink to the real shared object.
libasan="$(readlink -f "$libasan")"
libubsan="$(readlink -f "$libubsan")"

# 4. Run the tests.
specs=(dist/test/ssl/*.test.js dist/test/protocol/*.test.js dist/test/interop/*.test.js dist/test/security/fuzz.test.js dist/test/tls/identity-check.test.js)
say "running ${#specs[@]} test files with MEMTLS_ADDON=$addon"
rm -f "$log" "$counts"
test_started=$SECONDS
MEMTLS_ADDON="$addon" \
  MEMTLS_MOCHA_JSON="$counts" \
  LD_PRELOAD="$libasan:$libubsan" \
  ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=0:print_summary=1" \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:print_summary=1" \
  npx mocha "${specs[@]}" 2>&1 | tee "$log"
mocha_status=${PIPESTATUS[0]}
test_seconds=$((SECONDS - test_started))

# 5. Verdict.
reports="$(grep -E 'ERROR: AddressSanitizer|runtime error:|SUMMARY: (Address|UndefinedBehavior)Sanitizer|ERROR: LeakSanitizer' "$log" || true)"
echo
say "---- summary ----"
if [ -f "$counts" ]; then
  node -e '
    const s = require(process.argv[1]).stats;
    console.log(`[test:asan] tests: ${s.passes} passed, ${s.failures} failed, ${s.pending} pending (of ${s.tests})`);
  ' "$counts"
else
  say "tests: no counts written (mocha died before the end of the run)"
fi
say "mocha exit status: $mocha_status; test time ${test_seconds}s; total $((SECONDS - started))s"
status=0
if [ -n "$reports" ]; then
  say "sanitizer reports found:"
  printf '%s\n' "$reports" | sort | uniq -c | sed 's/^/[test:asan]   /'
  status=1
else
  say "sanitizer reports: none"
fi
[ "$mocha_status" -eq 0 ] || status=1
[ -f "$counts" ] || status=1
if [ "$status" -eq 0 ]; then say "PASS"; else say "FAIL (full output: $log)"; fi
exit "$status"
