#!/usr/bin/env bash
# Runs test programs and prints one closing line "N passed, N failed[, N skipped]".
#
# Each argument is a test program: a cmocka program (its "[  PASSED  ] N test(s)."
# lines are summed) or any program that prints "N passed, N failed[, N skipped]"
# as its last such line. A program that exits non-zero without reporting a
# failure (crash, sanitizer report, timeout) counts as one failure.
# With K8C_REQUIRE_PRIVILEGED=1 a skipped test counts as a failure.
set -u
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=0:halt_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$(pwd)/tests/lsan.supp:print_suppressions=0}"
export K8C_SRCDIR="$(pwd)"
export K8C_BINDIR="$(pwd)/${BINDIR:-bin}"
export K8C_ASAN_BINDIR="$(pwd)/${BUILD:-build}/asan/bin"
TEST_TIMEOUT="${K8C_TEST_TIMEOUT:-900}"

passed=0 failed=0 skipped=0
failed_programs=()
logdir="${BUILD:-build}/test-logs"
mkdir -p "$logdir"

count() { # program log rc
  local prog=$1 log=$2 rc=$3 p=0 f=0 s=0 line
  while IFS= read -r line; do
    if [[ $line =~ ^\[\ \ PASSED\ \ \]\ ([0-9]+)\ test ]]; then p=$((p + BASH_REMATCH[1])); fi
    if [[ $line =~ ^\[\ \ FAILED\ \ \]\ ([0-9]+)\ test ]]; then f=$((f + BASH_REMATCH[1])); fi
    if [[ $line =~ ^\[\ \ SKIPPED\ \]\ ([0-9]+)\ test ]]; then s=$((s + BASH_REMATCH[1])); fi
  done < "$log"
  local plain
  plain=$(grep -E '^([A-Za-z]+: )?[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$' "$log" | tail -n 1)
  if [ -n "$plain" ] && [ $((p + f + s)) -eq 0 ]; then
    [[ $plain =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed(,\ ([0-9]+)\ skipped)? ]]
    p=${BASH_REMATCH[1]}; f=${BASH_REMATCH[2]}; s=${BASH_REMATCH[4]:-0}
  fi
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  if [ $((p + f + s)) -eq 0 ]; then f=1; echo "  (no test result reported)"; fi
  if [ "${K8C_REQUIRE_PRIVILEGED:-0}" = 1 ] && [ "$s" -gt 0 ]; then
    echo "  ($s skipped test(s) count as failures: K8C_REQUIRE_PRIVILEGED=1)"
    f=$((f + s)); s=0
  fi
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
  [ "$f" -gt 0 ] && failed_programs+=("$prog")
  printf '%-60s %d passed, %d failed, %d skipped\n' "$(basename "$prog")" "$p" "$f" "$s"
}

if [ "${K8C_SKIP_FORMAT:-0}" != 1 ]; then
  log="$logdir/format-check.log"
  if make -s format-check > "$log" 2>&1; then rc=0; else rc=$?; fi
  if [ $rc -eq 0 ]; then echo "1 passed, 0 failed" >> "$log"; else echo "0 passed, 1 failed" >> "$log"; head -n 20 "$log"; fi
  count format-check "$log" 0
fi

for t in "$@"; do
  log="$logdir/$(basename "$t").log"
  echo "== $t" >&2
  timeout --signal=TERM --kill-after=30 "$TEST_TIMEOUT" "$t" > "$log" 2>&1
  rc=$?
  count "$t" "$log" "$rc"
  if [ "$rc" -ne 0 ]; then
    echo "---- $t exited $rc; last lines of $log:"
    tail -n 40 "$log"
    echo "----"
  fi
done

if [ ${#failed_programs[@]} -gt 0 ]; then
  echo "failing programs: ${failed_programs[*]}"
fi
if [ "$skipped" -gt 0 ]; then
  echo "$passed passed, $failed failed, $skipped skipped"
else
  echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
