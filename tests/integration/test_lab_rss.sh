#!/usr/bin/env bash
# k8c-lab memory figures (root): issue 12 wants an idle 5-node lab's control plane
# + 5 kubelets + 5 proxies measured and printed by `k8c-lab status`. Brings up a
# 5-node lab with a test-unique name and dir, checks that status lists every
# daemon running, that its printed total is the sum of its per-daemon lines and
# agrees with /proc read here, and prints the total beside the issue's 100 MB
# bound. The bound itself is not met yet (about 137 MB: each of the 13 processes
# maps Debian's libcurl-gnutls and its dependencies, ~7.8 MB RSS per process
# before any k8c code), so it is reported, not asserted. The lab is removed at
# the end.
set -u
BINDIR="${K8C_BINDIR:-$(pwd)/bin}"
LAB="$BINDIR/k8c-lab"
BUDGET_KB=$((100 * 1024)) # the issue's bound: 100 MB
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok: $1"; }
bad() { fail=$((fail + 1)); echo "FAIL: $1"; }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }

if [ "$(id -u)" -ne 0 ] || ! command -v runc >/dev/null || ! command -v docker-registry >/dev/null; then
  echo "skipped: needs root, runc and docker-registry"
  echo "0 passed, 0 failed, 1 skipped"
  exit 0
fi

tag=$(( $$ % 100000 ))
NAME="lr$tag"
TMP=$(mktemp -d /tmp/k8ct-labrss-XXXXXX)
DIR="$TMP/$NAME"
cleanup() {
  "$LAB" down --name "$NAME" --dir "$DIR" >/dev/null 2>&1
  rm -rf "$TMP"
}
trap cleanup EXIT

"$LAB" up --name "$NAME" --nodes 5 --dir "$DIR" >"$TMP/up.log" 2>&1
check "5-node lab $NAME up" "[ $? -eq 0 ]" || true
grep -q "nodes Ready: 5/5" "$TMP/up.log" && ok "all 5 nodes Ready" || {
  bad "5 nodes Ready"
  tail -5 "$TMP/up.log"
  # Why a daemon died: the end of its log, before the lab (and its logs) are removed.
  for l in $(grep -o "see [^)]*\.log" "$TMP/up.log" | sort -u | cut -d' ' -f2); do
    echo "---- $l"
    tail -n 15 "$l"
  done
}
# Idle: let the initial lists, node registration and first status updates settle.
sleep 15

"$LAB" status --name "$NAME" --dir "$DIR" >"$TMP/status" 2>&1
sed -n '/^DAEMON/,$p' "$TMP/status"
# Per-daemon lines: name pid rss pss where; the budget excludes the registry (and etcd).
daemons=$(awk '$1 ~ /^(apiserver|controller-manager|scheduler|kubelet-[0-9]+|proxy-[0-9]+)$/ && $2 ~ /^[0-9]+$/' "$TMP/status")
check "status lists the control plane, 5 kubelets and 5 proxies running" \
  '[ "$(printf "%s\n" "$daemons" | grep -c .)" -eq 13 ]'
sum=$(printf '%s\n' "$daemons" | awk '{s += $3} END {print s + 0}')
total=$(sed -n 's/^total RSS of control plane + kubelets + proxies: \([0-9]*\) kB.*/\1/p' "$TMP/status")
check "status prints the total RSS" '[ -n "$total" ]'
check "printed total ($total kB) is the sum of the daemon lines ($sum kB)" '[ "${total:-0}" -eq "$sum" ]'
# Independently of k8c-lab: Rss of the same pids from /proc, read now (allowing drift).
mine=0
for pid in $(printf '%s\n' "$daemons" | awk '{print $2}'); do
  kb=$(awk '/^Rss:/ {print $2}' "/proc/$pid/smaps_rollup" 2>/dev/null)
  mine=$((mine + ${kb:-0}))
done
check "total agrees with /proc/<pid>/smaps_rollup ($mine kB) within 10%" \
  '[ $((mine * 10)) -ge $((${total:-0} * 9)) ] && [ $((mine * 10)) -le $((${total:-0} * 11)) ]'
echo "idle control plane + 5 kubelets + 5 proxies: ${total:-?} kB RSS (issue 12's bound: $BUDGET_KB kB)"

"$LAB" down --name "$NAME" --dir "$DIR" >"$TMP/down.log" 2>&1
check "down $NAME reports nothing left" "[ $? -eq 0 ] && grep -q 'nothing with its prefix remains' '$TMP/down.log'"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
