#!/usr/bin/env bash
# A `goto` that jumps forward over the declaration of a __attribute__((cleanup))
# variable (cleanup_free, json_auto_t, ...) into its scope makes the cleanup run on
# an uninitialised pointer when the function leaves through that label. gcc
# accepts such code silently; clang rejects it ("cannot jump from this goto
# statement to its label"). This runs clang's front end over every C source of the
# project (library, daemons, tests, benchmarks, fuzzers) and fails on any such jump.
set -u
cd "${K8C_SRCDIR:-$(pwd)}"
if ! command -v clang >/dev/null; then
  echo "skipped: clang is not installed"
  echo "0 passed, 0 failed, 1 skipped"
  exit 0
fi
flags="-std=gnu11 -fsyntax-only -w -Iinclude -Isrc -D_GNU_SOURCE $(pkg-config --cflags libnl-3.0 p11-kit-1 2>/dev/null)"
bad=0 n=0
for f in $(git ls-files 'src/*.c' 'cmd/*.c' 'tests/*.c' 'bench/*.c' 'fuzz/*.c' 2>/dev/null || find src cmd tests bench fuzz -name '*.c'); do
  n=$((n + 1))
  out=$(clang $flags "$f" 2>&1 | grep -A3 "cannot jump from this goto statement")
  if [ -n "$out" ]; then
    bad=$((bad + 1))
    echo "FAIL: $f"
    echo "$out"
  fi
done
if [ "$bad" -eq 0 ]; then
  echo "ok: no goto jumps into the scope of a cleanup variable ($n files)"
  echo "1 passed, 0 failed"
else
  echo "0 passed, 1 failed"
  exit 1
fi
