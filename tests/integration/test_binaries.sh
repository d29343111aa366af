#!/usr/bin/env bash
# Every binary answers --help (exit 0, lists its flags) and --version, and an
# unknown or malformed flag gives a one-line error naming it and exit 2.
set -u
BINDIR="${K8C_BINDIR:-bin}"
pass=0 fail=0
check() { # description, condition result
  if [ "$2" -eq 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $1"; fi
}
for b in k8c-apiserver k8c-controller-manager k8c-scheduler k8c-kubelet k8c-proxy k8cctl k8c-lab; do
  out=$("$BINDIR/$b" --help 2>&1); rc=$?
  [ $rc -eq 0 ] && grep -q "^Usage:" <<<"$out" && grep -q -- "--help" <<<"$out"; check "$b --help" $?
  out=$("$BINDIR/$b" --version 2>&1); rc=$?
  [ $rc -eq 0 ] && grep -q "v0\." <<<"$out"; check "$b --version" $?
  # Daemons: one line, exit 2. k8cctl answers as kubectl does: the error, a hint line, exit 1.
  want_rc=2 want_lines=1
  if [ "$b" = k8cctl ]; then want_rc=1 want_lines=2; fi
  out=$("$BINDIR/$b" --no-such-flag=1 2>&1); rc=$?
  [ $rc -eq $want_rc ] && [ "$(wc -l <<<"$out")" -eq $want_lines ] && grep -q -- "unknown flag: --no-such-flag" <<<"$out"; check "$b unknown flag" $?
  out=$("$BINDIR/$b" --v=notanumber 2>&1); rc=$?
  [ $rc -eq $want_rc ] && grep -q -- '"--v" flag' <<<"$out"; check "$b malformed flag" $?
done
for b in k8c-controller-manager k8c-scheduler k8c-kubelet k8c-proxy k8cctl; do
  out=$("$BINDIR/$b" --help 2>&1)
  grep -q -- "--kubeconfig" <<<"$out" && grep -q -- "--server" <<<"$out"; check "$b has --kubeconfig/--server" $?
done
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
