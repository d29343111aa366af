#!/usr/bin/env bash
# End-to-end suite: one k8c lab with 3 nodes (test-unique name and dir), every
# example applied with the real kubectl, each feature checked through what the
# cluster does (traffic, DNS, restarts, rescheduling), not only object state.
# Prints one line per scenario ("ok <name>" / "FAIL <name>: why") and closes with
# "N passed, N failed".
#
# Safety: traffic goes only to the host's loopback (the apiserver, kubectl
# port-forward) or from inside the lab's node namespaces (k8c-lab exec), which
# have no route off the lab. The lab is removed on exit, even on failure, and the
# suite checks that nothing with its prefix is left behind.
set -u
SRC="${K8C_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}"
BIN="${K8C_BINDIR:-$SRC/bin}"
LAB="e2e$$"
DIR="/tmp/k8c-$LAB"
NODES=3
export KUBECONFIG="$DIR/kubeconfig"
export HOME="$DIR/home" # private kubectl cache
PATH="$BIN:$PATH"

pass=0 fail=0
declare -a failures=()
log() { echo "# $*" >&2; }
ok() { pass=$((pass + 1)); echo "ok $1"; }
bad() { fail=$((fail + 1)); failures+=("$1"); echo "FAIL $1: $2"; }

# wait_until TIMEOUT_S CMD...: runs CMD every second until it succeeds.
wait_until() {
  local t=$1; shift
  local end=$((SECONDS + t))
  while [ $SECONDS -lt $end ]; do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  "$@" >/dev/null 2>&1
}

k() { kubectl --request-timeout=20s "$@"; }
node() { echo "$LAB-node-$1"; }
in_node() { local n=$1; shift; k8c-lab exec --name "$LAB" "$(node "$n")" -- "$@"; }
# wget from inside node N: prints the body.
fetch() { in_node "$1" curl -s -m 3 "$2"; }
jp() { k get "$1" -o "jsonpath=$2" 2>/dev/null; }
pod_ready() { [ "$(jp "pod/$1" '{.status.conditions[?(@.type=="Ready")].status}')" = True ]; }
pod_phase_is() { [ "$(jp "pod/$1" '{.status.phase}')" = "$2" ]; }
rollout_done() { k rollout status "deployment/$1" --timeout=5s; }
svc_ip() { jp "svc/$1" '{.spec.clusterIP}'; }
dns_ip() { k get svc kube-dns -n kube-system -o 'jsonpath={.spec.clusterIP}' 2>/dev/null; }

cleanup() {
  local rc=$?
  if [ "${KEEP_LAB:-0}" != 1 ]; then
    k8c-lab down --name "$LAB" --dir "$DIR" >"/tmp/k8c-$LAB-down.log" 2>&1 || true
    rm -rf "$DIR"
  fi
  exit $rc
}
trap cleanup EXIT INT TERM

mkdir -p "$HOME"
log "lab $LAB: up with $NODES nodes"
if ! k8c-lab up --name "$LAB" --dir "$DIR" --nodes "$NODES" --node-capacity cpu=2,memory=1536Mi >"$DIR.up.log" 2>&1; then
  tail -n 30 "$DIR.up.log" >&2
  bad lab-up "k8c-lab up failed"
  echo "$pass passed, $fail failed"
  exit 1
fi
rm -f "$DIR.up.log"

# ---- scenarios ----------------------------------------------------------------

s_nodes_ready() {
  local n
  n=$(k get nodes --no-headers 2>/dev/null | awk '$2 == "Ready"' | wc -l)
  [ "$n" -eq "$NODES" ] || { bad nodes-ready "$n of $NODES nodes Ready"; return; }
  ok nodes-ready
}

s_hello_service() {
  k apply -f "$SRC/examples/hello/" >/dev/null || { bad hello-service "apply failed"; return; }
  wait_until 120 rollout_done hello || { bad hello-service "rollout did not finish"; return; }
  local ip; ip=$(svc_ip hello)
  local port; port=$(jp svc/hello '{.spec.ports[0].port}')
  # Every node reaches the ClusterIP, and the answers come from more than one pod.
  local seen="" i body
  for i in 1 2 3 1 2 3 1 2 3; do
    body=$(fetch "$i" "http://$ip:$port/") || { bad hello-service "no answer from node $i"; return; }
    seen="$seen$body"$'\n'
  done
  [ "$(sort -u <<<"$seen" | grep -c .)" -ge 2 ] || { bad hello-service "one pod answered every request"; return; }
  ok hello-service
}

s_dns() {
  local dns; dns=$(dns_ip)
  [ -n "$dns" ] || { bad dns "no kube-dns service"; return; }
  local out
  out=$(in_node 1 busybox nslookup hello.default.svc.cluster.local "$dns" 2>&1)
  grep -q "$(svc_ip hello)" <<<"$out" || { bad dns "hello.default.svc.cluster.local: $out"; return; }
  # From inside a pod: the short name through the search path of the pod's resolv.conf.
  out=$(k exec deploy/hello -- nslookup hello 2>&1)
  grep -q "$(svc_ip hello)" <<<"$out" || { bad dns "short name from a pod: $out"; return; }
  ok dns
}

s_multicontainer() {
  k apply -f "$SRC/examples/pod-multicontainer/" >/dev/null || { bad multi-container "apply failed"; return; }
  wait_until 90 pod_ready shared-volume || { bad multi-container "pod not ready"; return; }
  local ip; ip=$(jp pod/shared-volume '{.status.podIP}')
  local body; body=$(fetch 1 "http://$ip:8080/")
  # The writer puts `date` output in the shared volume; the web container serves it.
  grep -q "UTC\|[0-9]:[0-9][0-9]:[0-9][0-9]" <<<"$body" || { bad multi-container "page: $body"; return; }
  ok multi-container
}

s_resources() {
  k apply -f "$SRC/examples/resources/" >/dev/null || { bad requests-limits "apply failed"; return; }
  wait_until 60 pod_phase_is guaranteed Running || { bad requests-limits "guaranteed not running"; return; }
  [ "$(jp pod/guaranteed '{.status.qosClass}')" = Guaranteed ] || { bad requests-limits "qosClass of guaranteed"; return; }
  [ "$(jp pod/burstable '{.status.qosClass}')" = Burstable ] || { bad requests-limits "qosClass of burstable"; return; }
  wait_until 30 sh -c "kubectl get events --field-selector involvedObject.name=too-big -o name | grep -q ." \
    || { bad requests-limits "no FailedScheduling event for too-big"; return; }
  pod_phase_is too-big Pending || { bad requests-limits "too-big not Pending"; return; }
  k get events --field-selector involvedObject.name=too-big 2>/dev/null | grep -q "Insufficient cpu" \
    || { bad requests-limits "event does not say Insufficient cpu"; return; }
  ok requests-limits
}

s_labels() {
  k apply -f "$SRC/examples/labels/" >/dev/null || { bad labels "apply failed"; return; }
  names() { k get pods -l "$1" -o name | sed 's|pod/||' | sort | tr '\n' ' '; }
  [ "$(names 'app in (alpaca,bandicoot),ver=2')" = "alpaca-test bandicoot-prod bandicoot-staging " ] || { bad labels "set-based + equality"; return; }
  [ "$(names 'env notin (prod),app in (alpaca,bandicoot)')" = "alpaca-test bandicoot-staging " ] || { bad labels "notin"; return; }
  [ "$(names 'canary')" = "bandicoot-staging " ] || { bad labels "exists"; return; }
  [ "$(names '!canary,app=alpaca')" = "alpaca-prod alpaca-test " ] || { bad labels "does not exist"; return; }
  k delete pods -l app=bandicoot --wait=false >/dev/null
  ok labels
}

s_annotations() {
  k apply -f "$SRC/examples/annotations/" >/dev/null || { bad annotations "apply failed"; return; }
  k annotate pod annotated example.com/reviewed=yes >/dev/null || { bad annotations "annotate"; return; }
  [ "$(jp pod/annotated '{.metadata.annotations.example\.com/reviewed}')" = yes ] || { bad annotations "value"; return; }
  k describe pod annotated | grep -q "example.com/owner" || { bad annotations "describe"; return; }
  ok annotations
}

# Probes with their own failure built in (no exec needed): the liveness file disappears
# after a few seconds, the readiness file too, and a tcp server that never listens.
s_probes() {
  k apply -f - >/dev/null <<'YAML' || { bad probes "apply failed"; return; }
apiVersion: v1
kind: Pod
metadata: {name: e2e-liveness, labels: {e2e: probes}}
spec:
  containers:
  - name: web
    image: busybox
    command: ["sh", "-c", "mkdir -p /www; echo ok > /www/healthy; (sleep 6; rm /www/healthy) & exec httpd -f -p 8080 -h /www"]
    livenessProbe: {httpGet: {path: /healthy, port: 8080}, periodSeconds: 2, failureThreshold: 2}
---
apiVersion: v1
kind: Pod
metadata: {name: e2e-readiness, labels: {e2e: probes, app: e2e-ready}}
spec:
  containers:
  - name: app
    image: busybox
    command: ["sh", "-c", "touch /tmp/ready; (sleep 40; rm /tmp/ready) & exec httpd -f -p 8080 -h /tmp"]
    readinessProbe: {exec: {command: ["test", "-e", "/tmp/ready"]}, periodSeconds: 2, failureThreshold: 1}
---
apiVersion: v1
kind: Service
metadata: {name: e2e-ready}
spec:
  selector: {app: e2e-ready}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: e2e-tcp, labels: {e2e: probes}}
spec:
  containers:
  - name: echo
    image: busybox
    command: ["nc", "-ll", "-p", "9000", "-e", "cat"]
    readinessProbe: {tcpSocket: {port: 9000}, periodSeconds: 2}
  - name: deaf
    image: busybox
    command: ["sleep", "3600"]
    readinessProbe: {tcpSocket: {port: 9001}, periodSeconds: 2}
YAML
  wait_until 35 pod_ready e2e-readiness || { bad probes "readiness: never ready"; return; }
  wait_until 20 sh -c "kubectl get endpoints e2e-ready -o jsonpath='{.subsets[0].addresses[0].ip}' | grep -q ." \
    || { bad probes "readiness: ready pod not in endpoints"; return; }
  restarts() { jp pod/e2e-liveness '{.status.containerStatuses[0].restartCount}'; }
  wait_until 60 sh -c "[ \"\$(kubectl get pod e2e-liveness -o jsonpath='{.status.containerStatuses[0].restartCount}')\" -ge 1 ]" \
    || { bad probes "liveness: no restart (restartCount $(restarts))"; return; }
  k get events --field-selector involvedObject.name=e2e-liveness 2>/dev/null | grep -q Unhealthy \
    || { bad probes "liveness: no Unhealthy event"; return; }
  wait_until 40 sh -c "! kubectl get pod e2e-readiness -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -q True" \
    || { bad probes "readiness: still ready after the file went"; return; }
  pod_phase_is e2e-readiness Running || { bad probes "readiness: not Running"; return; }
  wait_until 20 sh -c "! kubectl get endpoints e2e-ready -o jsonpath='{.subsets[*].addresses[*].ip}' | grep -q ." \
    || { bad probes "readiness: unready pod still in endpoints"; return; }
  local tcp_ready
  wait_until 60 sh -c "kubectl get pod e2e-tcp -o jsonpath='{.status.containerStatuses[?(@.name==\"echo\")].ready}' | grep -q true" \
    || { bad probes "tcpSocket: listening container not ready"; return; }
  tcp_ready=$(jp pod/e2e-tcp '{.status.containerStatuses[?(@.name=="deaf")].ready}')
  [ "$tcp_ready" = false ] || { bad probes "tcpSocket: container without listener is ready"; return; }
  k delete pod -l e2e=probes --grace-period=1 --wait=false >/dev/null
  ok probes
}

s_volumes() {
  k apply -f "$SRC/examples/volumes/" >/dev/null || { bad volumes "apply failed"; return; }
  wait_until 60 sh -c "kubectl get pvc example-claim -o jsonpath='{.status.phase}' | grep -q Bound" \
    || { bad volumes "claim not bound"; return; }
  wait_until 90 pod_phase_is persistent Running || { bad volumes "pod persistent not running"; return; }
  wait_until 90 pod_phase_is scratch Running || { bad volumes "pod scratch not running"; return; }
  wait_until 90 pod_phase_is host-files Running || { bad volumes "pod host-files not running"; return; }
  local n1 n2
  wait_until 20 sh -c "[ \$(kubectl logs persistent | wc -l) -ge 1 ]" || { bad volumes "no log of persistent"; return; }
  n1=$(k logs persistent | wc -l)
  k delete pod persistent --grace-period=1 >/dev/null
  k apply -f "$SRC/examples/volumes/pv-pvc.yaml" >/dev/null
  wait_until 90 pod_phase_is persistent Running || { bad volumes "recreated pod not running"; return; }
  wait_until 20 sh -c "[ \$(kubectl logs persistent | wc -l) -gt $n1 ]" || { bad volumes "data did not survive the pod"; return; }
  n2=$(k logs persistent | wc -l)
  [ "$n2" -eq $((n1 + 1)) ] || { bad volumes "expected $((n1 + 1)) lines, got $n2"; return; }
  k logs host-files | grep -q . || { bad volumes "hostPath file not read"; return; }
  ok volumes
}

s_services() {
  k apply -f "$SRC/examples/services/" >/dev/null || { bad services "apply failed"; return; }
  wait_until 120 rollout_done backend || { bad services "backend not rolled out"; return; }
  [ "$(svc_ip backend-fixed)" = 10.96.100.100 ] || { bad services "chosen ClusterIP not kept"; return; }
  wait_until 30 sh -c "k8c-lab exec --name $LAB $(node 2) -- curl -s -m 3 http://10.96.100.100/ | grep -q backend" \
    || { bad services "chosen ClusterIP does not answer"; return; }
  # NodePort: from node 3 to node 1's address.
  local n1ip; n1ip=$(jp "node/$(node 1)" '{.status.addresses[?(@.type=="InternalIP")].address}')
  wait_until 30 sh -c "k8c-lab exec --name $LAB $(node 3) -- curl -s -m 3 http://$n1ip:30080/ | grep -q backend" \
    || { bad services "NodePort 30080 on $n1ip does not answer"; return; }
  [ -n "$(jp svc/backend-lb '{.spec.ports[0].nodePort}')" ] || { bad services "LoadBalancer has no nodePort"; return; }
  local dns; dns=$(dns_ip)
  in_node 1 busybox nslookup docs.default.svc.cluster.local "$dns" 2>&1 | grep -qi "backend.default.svc.cluster.local\|canonical" \
    || { bad services "ExternalName not answered as CNAME"; return; }
  [ "$(jp endpoints/external-db '{.subsets[0].addresses[0].ip}')" = 10.250.0.10 ] || { bad services "manual endpoints changed"; return; }
  local a; a=$(in_node 1 busybox nslookup backend-headless.default.svc.cluster.local "$dns" 2>&1 | grep -c "Address.*10\.")
  [ "$a" -ge 2 ] || { bad services "headless name does not list the 2 pods"; return; }
  ok services
}

s_replicaset() {
  k apply -f "$SRC/examples/replicaset/orphan-pod.yaml" >/dev/null || { bad replicaset "apply pod"; return; }
  k apply -f "$SRC/examples/replicaset/replicaset.yaml" >/dev/null || { bad replicaset "apply rs"; return; }
  count() { k get pods -l app=kuard,version=2 --no-headers 2>/dev/null | grep -vc Terminating; }
  wait_until 60 sh -c "[ \"\$(kubectl get rs kuard -o jsonpath='{.status.readyReplicas}')\" = 3 ]" || { bad replicaset "not 3 ready"; return; }
  [ "$(jp pod/kuard-handmade '{.metadata.ownerReferences[0].name}')" = kuard ] || { bad replicaset "handmade pod not adopted"; return; }
  [ "$(count)" -eq 3 ] || { bad replicaset "adoption: $(count) pods, want 3"; return; }
  # Quarantine: relabel one pod; a replacement appears and the relabelled one stays.
  local victim; victim=$(k get pods -l app=kuard,version=2 -o name | head -n 1 | sed 's|pod/||')
  k label pod "$victim" version=quarantine --overwrite >/dev/null
  wait_until 60 sh -c "[ \"\$(kubectl get rs kuard -o jsonpath='{.status.readyReplicas}')\" = 3 ]" || { bad replicaset "no replacement after quarantine"; return; }
  [ -z "$(jp "pod/$victim" '{.metadata.ownerReferences}')" ] || { bad replicaset "quarantined pod still owned"; return; }
  pod_phase_is "$victim" Running || { bad replicaset "quarantined pod not kept running"; return; }
  # Self-healing.
  k delete pod kuard-handmade --grace-period=1 --wait=false >/dev/null
  wait_until 60 sh -c "[ \$(kubectl get pods -l app=kuard,version=2 --no-headers | grep -c Running) -ge 3 ] && ! kubectl get pod kuard-handmade" \
    || { bad replicaset "deleted pod not replaced"; return; }
  k scale rs kuard --replicas=5 >/dev/null
  wait_until 60 sh -c "[ \"\$(kubectl get rs kuard -o jsonpath='{.status.readyReplicas}')\" = 5 ]" || { bad replicaset "scale to 5"; return; }
  k delete rs kuard --cascade=orphan >/dev/null
  sleep 3
  [ "$(count)" -eq 5 ] || { bad replicaset "orphan delete removed pods ($(count) left)"; return; }
  [ -z "$(k get pods -l app=kuard,version=2 -o jsonpath='{.items[*].metadata.ownerReferences}')" ] || { bad replicaset "orphans still owned"; return; }
  k delete pods -l app=kuard --grace-period=1 --wait=false >/dev/null
  ok replicaset
}

s_deployment() {
  k apply -f "$SRC/examples/deployment/" >/dev/null || { bad deployment "apply failed"; return; }
  wait_until 120 rollout_done web || { bad deployment "v1 rollout"; return; }
  k expose deployment web --port 80 --target-port 8080 >/dev/null 2>&1 || true
  local ip; ip=$(svc_ip web)
  wait_until 20 sh -c "k8c-lab exec --name $LAB $(node 1) -- curl -s -m 3 http://$ip/ | grep -q v1" || { bad deployment "v1 not served"; return; }
  k set env deployment/web VERSION=v2 >/dev/null || { bad deployment "set env"; return; }
  wait_until 180 rollout_done web || { bad deployment "v2 rollout did not finish"; return; }
  wait_until 20 sh -c "k8c-lab exec --name $LAB $(node 2) -- curl -s -m 3 http://$ip/ | grep -q v2" || { bad deployment "v2 not served"; return; }
  [ "$(k get rs -l app=web --no-headers | wc -l)" -ge 2 ] || { bad deployment "old ReplicaSet not kept"; return; }
  k rollout undo deployment/web >/dev/null || { bad deployment "undo"; return; }
  wait_until 180 rollout_done web || { bad deployment "rollback did not finish"; return; }
  wait_until 20 sh -c "k8c-lab exec --name $LAB $(node 3) -- curl -s -m 3 http://$ip/ | grep -q v1" || { bad deployment "v1 not back after undo"; return; }
  ok deployment-rollout-rollback
}

s_exec() {
  wait_until 60 pod_ready annotated >/dev/null 2>&1 || wait_until 60 pod_phase_is annotated Running || { bad exec "pod annotated not running"; return; }
  [ "$(k exec annotated -- echo hello)" = hello ] || { bad exec "non-interactive"; return; }
  [ "$(echo from-stdin | k exec -i annotated -- cat)" = from-stdin ] || { bad exec "stdin"; return; }
  k exec annotated -- sh -c 'exit 3'; local rc=$?
  [ $rc -eq 3 ] || { bad exec "exit code $rc, want 3"; return; }
  ok exec
}

s_port_forward() {
  k apply -f "$SRC/examples/port-forward/" >/dev/null || { bad port-forward "apply failed"; return; }
  wait_until 90 pod_phase_is private-web Running || { bad port-forward "pod not running"; return; }
  local port=$((20000 + RANDOM % 20000))
  kubectl port-forward pod/private-web "$port:8080" >"$DIR/pf.log" 2>&1 &
  local pf=$!
  local body=""
  wait_until 20 sh -c "curl -s --max-time 3 http://127.0.0.1:$port/ | grep -q tunnel"
  body=$(curl -s --max-time 3 "http://127.0.0.1:$port/")
  kill "$pf" 2>/dev/null; wait "$pf" 2>/dev/null
  grep -q "hello through the tunnel" <<<"$body" || { bad port-forward "got: $body"; return; }
  ok port-forward
}

# Graceful termination: a pod that traps SIGTERM writes a marker to a hostPath file
# and exits; deletion waits for it within the grace period.
s_grace() {
  local mark="/var/tmp/k8c-$LAB-grace"
  rm -f "$mark"
  k apply -f - >/dev/null <<YAML || { bad grace-period "apply failed"; return; }
apiVersion: v1
kind: Pod
metadata: {name: e2e-grace}
spec:
  terminationGracePeriodSeconds: 20
  volumes: [{name: mark, hostPath: {path: /var/tmp, type: Directory}}]
  containers:
  - name: app
    image: busybox
    command: ["sh", "-c", "trap 'sleep 2; echo terminated > /mark/k8c-$LAB-grace; exit 0' TERM; while true; do sleep 1; done"]
    volumeMounts: [{name: mark, mountPath: /mark}]
YAML
  wait_until 90 pod_phase_is e2e-grace Running || { bad grace-period "pod not running"; return; }
  k delete pod e2e-grace --wait=true --timeout=60s >/dev/null || { bad grace-period "delete did not finish"; return; }
  [ "$(cat "$mark" 2>/dev/null)" = terminated ] || { bad grace-period "SIGTERM handler did not run"; rm -f "$mark"; return; }
  rm -f "$mark"
  ok grace-period
}

s_hpa() {
  k apply -f "$SRC/examples/hpa/" >/dev/null || { bad hpa "apply failed"; return; }
  wait_until 150 sh -c "[ \"\$(kubectl get deployment burner -o jsonpath='{.spec.replicas}')\" -ge 2 ]" \
    || { bad hpa "burner not scaled up ($(k get hpa burner --no-headers 2>&1))"; return; }
  k top pods -l app=burner --no-headers 2>/dev/null | awk '{print $2}' | grep -q '[1-9]' || { bad hpa "kubectl top shows no cpu"; return; }
  k delete -f "$SRC/examples/hpa/" --wait=false >/dev/null
  ok hpa
}

# Node failure: stop node 3's kubelet; the node goes NotReady and the pods of a
# ReplicaSet that were there are replaced on the other nodes.
s_node_failure() {
  # Pods tolerate an unreachable node for 300 s by default; these ask for 5 s.
  k apply -f - >/dev/null <<'YAML' || { bad node-failure "create"; return; }
apiVersion: apps/v1
kind: Deployment
metadata: {name: spread}
spec:
  replicas: 3
  selector: {matchLabels: {app: spread}}
  template:
    metadata: {labels: {app: spread}}
    spec:
      terminationGracePeriodSeconds: 1
      tolerations:
      - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 5}
      - {key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 5}
      containers:
      - {name: app, image: busybox, command: ["sleep", "3600"]}
YAML
  wait_until 120 rollout_done spread || { bad node-failure "not rolled out"; return; }
  local victim; victim=$(node 3)
  k8c-lab node stop --name "$LAB" "$victim" >/dev/null || { bad node-failure "node stop"; return; }
  wait_until 90 sh -c "kubectl get node $victim --no-headers | grep -q NotReady" || { bad node-failure "node not NotReady"; return; }
  wait_until 180 sh -c "[ \$(kubectl get pods -l app=spread -o wide --no-headers | grep Running | grep -vc $victim) -ge 3 ]" \
    || { bad node-failure "pods not replaced elsewhere: $(k get pods -l app=spread -o wide --no-headers | tr '\n' ';')"; k8c-lab node start --name "$LAB" "$victim" >/dev/null; return; }
  k8c-lab node start --name "$LAB" "$victim" >/dev/null
  wait_until 90 sh -c "kubectl get node $victim --no-headers | grep -qw Ready" || { bad node-failure "node did not come back"; return; }
  k delete deployment spread --wait=false >/dev/null
  ok node-failure
}

# Eviction: on node 3 (1536Mi, eviction at memory.available<100Mi) a BestEffort pod
# fills a memory-backed emptyDir past what the node has; the kubelet evicts it before
# the node's cgroup limit is hit, and a Guaranteed pod within its request keeps running.
s_eviction() {
  local n3; n3=$(node 3)
  k apply -f - >/dev/null <<YAML || { bad eviction "apply failed"; return; }
apiVersion: v1
kind: Pod
metadata: {name: e2e-guaranteed}
spec:
  nodeName: $n3
  containers:
  - name: app
    image: busybox
    command: ["sleep", "3600"]
    resources: {requests: {cpu: 100m, memory: 32Mi}, limits: {cpu: 100m, memory: 32Mi}}
---
apiVersion: v1
kind: Pod
metadata: {name: e2e-hog}
spec:
  nodeName: $n3
  terminationGracePeriodSeconds: 0
  volumes: [{name: ram, emptyDir: {medium: Memory}}]
  containers:
  - name: hog
    image: busybox
    command: ["sh", "-c", "dd if=/dev/zero of=/ram/a bs=1M count=1250 2>/dev/null; i=0; while true; do dd if=/dev/zero of=/ram/b\$i bs=1M count=5 2>/dev/null; i=\$((i+1)); sleep 1; done"]
    volumeMounts: [{name: ram, mountPath: /ram}]
YAML
  wait_until 90 pod_phase_is e2e-guaranteed Running || { bad eviction "guaranteed pod not running"; return; }
  wait_until 180 sh -c "kubectl get pod e2e-hog -o jsonpath='{.status.reason}' | grep -q Evicted" \
    || { bad eviction "hog not evicted: $(k get pod e2e-hog -o jsonpath='{.status.phase} {.status.reason} {.status.containerStatuses[0].lastState}' 2>&1)"; return; }
  pod_phase_is e2e-hog Failed || { bad eviction "evicted pod not Failed"; return; }
  k get pod e2e-hog -o jsonpath='{.status.message}' | grep -q "low on resource: memory" || { bad eviction "message: $(jp pod/e2e-hog '{.status.message}')"; return; }
  pod_phase_is e2e-guaranteed Running || { bad eviction "guaranteed pod not running after the eviction"; return; }
  [ "$(jp pod/e2e-guaranteed '{.status.containerStatuses[0].restartCount}')" = 0 ] || { bad eviction "guaranteed pod restarted"; return; }
  k delete pod e2e-hog e2e-guaranteed --grace-period=0 --wait=false >/dev/null 2>&1
  ok eviction
}

# The kubernetes Service routes to the apiserver (its Endpoints name the advertised address).
s_kubernetes_service() {
  local ip; ip=$(svc_ip kubernetes)
  local ep; ep=$(jp endpoints/kubernetes '{.subsets[0].addresses[0].ip}')
  [ -n "$ep" ] || { bad kubernetes-service "no endpoints for the kubernetes Service"; return; }
  local body; body=$(fetch 2 "http://$ip:443/version")
  grep -q '"gitVersion"' <<<"$body" || { bad kubernetes-service "http://$ip:443/version from node 2: $body"; return; }
  ok kubernetes-service
}

finish() {
  echo "$pass passed, $fail failed"
  [ "$fail" -eq 0 ]
}

SCENARIOS="${E2E_SCENARIOS:-nodes_ready hello_service dns kubernetes_service multicontainer resources labels annotations probes volumes services replicaset deployment exec port_forward grace hpa eviction node_failure}"
for s in $SCENARIOS; do
  log "scenario $s"
  "s_$s"
done
finish
