#!/usr/bin/env bash
# k8c-lab end to end (root): a 2-node lab with a test-unique name and dir comes
# up with both nodes Ready, the hello example's pods run on busybox pulled from
# the lab registry, its ClusterIP answers from inside both node netns (and
# cluster DNS resolves it), fault injection (partition/heal, freeze/thaw,
# kubelet stop/start) acts, a second lab runs side by side, and `down` leaves
# no netns, link, iptables chain, cgroup, mount or process with either prefix.
set -u
BINDIR="${K8C_BINDIR:-$(pwd)/bin}"
SRCDIR="${K8C_SRCDIR:-$(pwd)}"
LAB="$BINDIR/k8c-lab"
pass=0 fail=0 skip=0
ok() { pass=$((pass + 1)); echo "ok: $1"; }
bad() { fail=$((fail + 1)); echo "FAIL: $1"; }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }

if [ "$(id -u)" -ne 0 ] || ! command -v runc >/dev/null || ! command -v docker-registry >/dev/null; then
  echo "skipped: needs root, runc and docker-registry"
  echo "0 passed, 0 failed, 1 skipped"
  exit 0
fi

tag=$(( $$ % 100000 ))
A="la$tag" B="lb$tag"
TMP=$(mktemp -d /tmp/k8ct-lab-XXXXXX)
DA="$TMP/$A" DB="$TMP/$B"
export HOME="$TMP/home"; mkdir -p "$HOME"
KUBECTL="kubectl --cache-dir $TMP/kcache"
command -v kubectl >/dev/null || KUBECTL="$BINDIR/k8cctl"

cleanup() {
  "$LAB" down --name "$A" --dir "$DA" >/dev/null 2>&1
  "$LAB" down --name "$B" --dir "$DB" >/dev/null 2>&1
  rm -rf "$TMP"
}
trap cleanup EXIT

# Independent of k8c-lab's own check: what the system still holds with the prefix.
leftovers() { # name dir
  local n=$1 d=$2 out=""
  out+=$(ip netns list 2>/dev/null | grep -E "^$n-" || true)
  out+=$(ip -o link 2>/dev/null | grep -E ": $n-" || true)
  out+=$(iptables-save 2>/dev/null | grep -iE "^:$n-|-j $n-" || true)
  out+=$(find /sys/fs/cgroup -maxdepth 5 -name "k8c-lab-$n" 2>/dev/null || true)
  out+=$(grep -E " ($d|/run/netns/$n-)" /proc/self/mountinfo || true)
  out+=$(pgrep -f -- "$d/" || true)
  [ -e "$d" ] && out+="dir $d"
  [ -e "/run/k8c-lab/$n" ] && out+="index /run/k8c-lab/$n"
  [ -n "$out" ] && echo "$out"
  [ -z "$out" ]
}

ready_nodes() { # kubeconfig
  $KUBECTL --kubeconfig "$1" get nodes -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' 2>/dev/null | grep -c '^True$'
}

start=$(date +%s)
"$LAB" up --name "$A" --nodes 2 --dir "$DA" >"$TMP/up-a.log" 2>&1
check "lab $A up" "[ $? -eq 0 ]" || true
grep -q "nodes Ready: 2/2" "$TMP/up-a.log" && ok "up showed progress to 2/2 Ready" || { bad "up progress"; tail -5 "$TMP/up-a.log"; }
KA="$DA/kubeconfig"
check "kubeconfig printed by 'k8c-lab kubeconfig'" '[ "$("$LAB" kubeconfig --name "$A")" = "$KA" ]'
check "kubeconfig server is a loopback address" 'grep -q "\"server\": \"http://127\." "$KA"'
check "2 nodes Ready through the API" '[ "$(ready_nodes "$KA")" = 2 ]'
check "up again reports the lab exists" '"$LAB" up --name "$A" --dir "$DA" | grep -q "already up"'
check "kube-dns service in kube-system" '$KUBECTL --kubeconfig "$KA" -n kube-system get svc kube-dns -o jsonpath="{.spec.clusterIP}" | grep -q 10.96.0.10'

$KUBECTL --kubeconfig "$KA" apply -f "$SRCDIR/examples/hello/" >/dev/null 2>&1
running=0
for _ in $(seq 1 120); do
  running=$($KUBECTL --kubeconfig "$KA" get pods -l app=hello -o jsonpath='{range .items[*]}{.status.phase}{"\n"}{end}' 2>/dev/null | grep -c '^Running$')
  [ "$running" -ge 3 ] && break
  sleep 0.5
done
check "3 hello pods Running" "[ $running -ge 3 ]"
check "pods' busybox pulled from the lab registry" 'grep -h "image pulled" "$DA"/logs/kubelet-*.log | grep -q "image=busybox"'
check "image unpacked in a kubelet image store" 'ls "$DA"/nodes/node-*/images/images/*/rootfs/bin/busybox >/dev/null 2>&1'
check "each hello container runs on an overlay of the pulled image" \
  '[ "$(grep -c " $DA/nodes/node-[0-9]*/pods/.*/rootfs .* - overlay .*lowerdir=$DA/nodes/node-[0-9]*/images/images/" /proc/self/mountinfo)" -ge 3 ]'
victim=$($KUBECTL --kubeconfig "$KA" get pods -l app=hello -o jsonpath='{.items[0].metadata.name}' 2>/dev/null)
vuid=$($KUBECTL --kubeconfig "$KA" get pod "$victim" -o jsonpath='{.metadata.uid}' 2>/dev/null)
$KUBECTL --kubeconfig "$KA" delete pod "$victim" --wait=true >/dev/null 2>&1
gone=1
for _ in $(seq 1 40); do grep -q "/pods/$vuid/" /proc/self/mountinfo || { gone=0; break; }; sleep 0.5; done
check "a deleted pod's rootfs overlay is unmounted" "[ -n '$vuid' ] && [ $gone -eq 0 ]"
# An image the registry does not have: ErrImagePull, then ImagePullBackOff, with the registry's answer.
$KUBECTL --kubeconfig "$KA" run nosuch --image=nosuch:v1 --restart=Never >/dev/null 2>&1
reasons=""
for _ in $(seq 1 60); do
  reasons+=" $($KUBECTL --kubeconfig "$KA" get pod nosuch -o jsonpath='{.status.containerStatuses[0].state.waiting.reason}' 2>/dev/null)"
  case "$reasons" in *ImagePullBackOff*) break ;; esac
  sleep 0.5
done
check "missing image: ErrImagePull/ImagePullBackOff (saw:$reasons)" '[[ "$reasons" == *ImagePullBackOff* ]]'
check "pull failure message names the registry's answer" \
  '$KUBECTL --kubeconfig "$KA" get pod nosuch -o jsonpath="{.status.containerStatuses[0].state.waiting.message}" | grep -q "library/nosuch/manifests/v1: not found"'
cip=$($KUBECTL --kubeconfig "$KA" get svc hello -o jsonpath='{.spec.clusterIP}' 2>/dev/null)
answer() { # node url
  local out=""
  for _ in $(seq 1 40); do
    out=$(timeout 5 "$LAB" exec "$1" --name "$A" -- wget -qO- -T 2 "$2" 2>/dev/null) && break
    sleep 0.5
  done
  echo "$out"
}
check "ClusterIP $cip answers from inside $A-node-1" 'answer "$A-node-1" "http://$cip" | grep -q "hello from hello-"'
check "ClusterIP $cip answers from inside $A-node-2" 'answer "$A-node-2" "http://$cip" | grep -q "hello from hello-"'
check "cluster DNS resolves the service through kube-dns" \
  'timeout 5 "$LAB" exec "$A-node-1" --name "$A" -- busybox nslookup hello.default.svc.cluster.local 10.96.0.10 2>/dev/null | grep -q "$cip"'
# A pod on node 2, reached by pod IP from node 1 (routed over the lab bridge).
pip2=$($KUBECTL --kubeconfig "$KA" get pods -l app=hello -o jsonpath="{range .items[?(@.spec.nodeName==\"$A-node-2\")]}{.status.podIP}{\"\n\"}{end}" | head -1)
if [ -n "$pip2" ]; then
  check "pod IP $pip2 on node 2 answers from node 1" 'answer "$A-node-1" "http://$pip2:8080" | grep -q hello'
  "$LAB" node partition "$A-node-2" --name "$A" >/dev/null
  check "partition cuts node 2 off" '! timeout 5 "$LAB" exec "$A-node-1" --name "$A" -- wget -qO- -T 2 "http://$pip2:8080" >/dev/null 2>&1'
  "$LAB" node heal "$A-node-2" --name "$A" >/dev/null
  check "heal restores node 2" 'answer "$A-node-1" "http://$pip2:8080" | grep -q hello'
else
  bad "a hello pod on node 2"
fi
"$LAB" node freeze "$A-node-2" --name "$A" >/dev/null
check "freeze freezes node 2's cgroup" 'grep -qx FROZEN $(find /sys/fs/cgroup/freezer -path "*k8c-lab-$A/node-2/freezer.state" | head -1) 2>/dev/null || grep -qx 1 $(find /sys/fs/cgroup -path "*k8c-lab-$A/node-2/cgroup.freeze" | head -1)'
"$LAB" node thaw "$A-node-2" --name "$A" >/dev/null
check "thaw thaws it" '! grep -qx FROZEN $(find /sys/fs/cgroup/freezer -path "*k8c-lab-$A/node-2/freezer.state" | head -1) 2>/dev/null'
"$LAB" node stop "$A-node-2" --name "$A" >/dev/null
check "node stop stops the kubelet" '"$LAB" status --name "$A" | grep -qE "^kubelet-2 +stopped"'
"$LAB" node start "$A-node-2" --name "$A" >/dev/null
check "node start starts it again" '"$LAB" status --name "$A" | grep -qE "^kubelet-2 +[0-9]+"'
check "status prints the total RSS" '"$LAB" status --name "$A" | grep -q "total RSS of control plane + kubelets + proxies: [0-9]* kB"'
check "logs shows a daemon's log" '"$LAB" logs "$A-node-1" kubelet --name "$A" | grep -q "kubelet started"'

"$LAB" up --name "$B" --nodes 1 --storage etcd --dir "$DB" >"$TMP/up-b.log" 2>&1
check "second lab $B (etcd storage) up beside $A" "[ $? -eq 0 ]"
check "$B's node Ready" '[ "$(ready_nodes "$DB/kubeconfig")" = 1 ]'
check "$B sees only its own node" '[ "$($KUBECTL --kubeconfig "$DB/kubeconfig" get nodes -o name | wc -l)" = 1 ]'
check "$A still answers beside $B" 'answer "$A-node-1" "http://$cip" | grep -q "hello from"'

"$LAB" down --name "$A" --dir "$DA" >"$TMP/down-a.log" 2>&1
check "down $A reports nothing left" "[ $? -eq 0 ] && grep -q 'nothing with its prefix remains' '$TMP/down-a.log'"
check "no netns/link/chain/cgroup/mount/process/dir of $A left" 'leftovers "$A" "$DA"'
check "$B untouched by $A's down" '[ "$(ready_nodes "$DB/kubeconfig")" = 1 ]'
"$LAB" down --name "$B" --dir "$DB" >"$TMP/down-b.log" 2>&1
check "down $B reports nothing left" "[ $? -eq 0 ] && grep -q 'nothing with its prefix remains' '$TMP/down-b.log'"
check "no netns/link/chain/cgroup/mount/process/dir of $B left" 'leftovers "$B" "$DB"'
echo "runtime: $(( $(date +%s) - start ))s"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
