#!/usr/bin/env bash
# k8c-proxy on a real lab (root): a 2-node lab with a test-unique name and dir,
# busybox httpd pods behind Services, and clients that are a pod (kubectl exec),
# the node network namespaces, and an "outside" namespace this test attaches to
# the lab bridge. Checks issue #11's acceptance: cluster DNS from a pod (FQDN,
# search path, headless, ExternalName CNAME, SRV), ClusterIP balancing over 3
# backends, a not-ready pod getting nothing, a deleted pod leaving rotation
# within 1 s, REJECT without endpoints, a user-chosen clusterIP, a selector-less
# service with hand-written Endpoints, ClientIP affinity, NodePort via each node,
# and LoadBalancer IPs handed out by the controller-manager's servicelb and
# routed by the proxy from the lab network. No packet leaves the lab: the lab's
# nodes have no route off it and the outside namespace only routes the lab /24.
set -u
BINDIR="${K8C_BINDIR:-$(pwd)/bin}"
LAB="$BINDIR/k8c-lab"
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok: $1"; }
bad() { fail=$((fail + 1)); echo "FAIL: $1"; }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }

if [ "$(id -u)" -ne 0 ] || ! command -v runc >/dev/null || ! command -v docker-registry >/dev/null ||
  ! command -v curl >/dev/null || ! command -v iptables-legacy-save >/dev/null; then
  echo "skipped: needs root, runc, docker-registry, curl and iptables-legacy-save"
  echo "0 passed, 0 failed, 1 skipped"
  exit 0
fi

TMP=$(mktemp -d /tmp/k8ct-proxylab-XXXXXX)
export HOME="$TMP/home"; mkdir -p "$HOME"
KUBECTL="kubectl --cache-dir $TMP/kcache"
command -v kubectl >/dev/null || KUBECTL="$BINDIR/k8cctl"
L="" D="" EXT=""

cleanup() {
  [ -n "$EXT" ] && ip netns del "$EXT" 2>/dev/null
  [ -n "$L" ] && "$LAB" down --name "$L" --dir "$D" >/dev/null 2>&1
  rm -rf "$TMP"
}
trap cleanup EXIT

start=$(date +%s)
# A lab whose /24 is inside the cluster CIDR (10.244.0.0/16) would overlap the pod CIDRs: take another name.
up=1
for try in 0 1 2 3 4 5; do
  L="px$(( ($$ + try * 7919) % 100000 ))" D="$TMP/$L"
  "$LAB" up --name "$L" --nodes 2 --dir "$D" >"$TMP/up.log" 2>&1
  up=$?
  subnet=$(sed -n 's/.*subnet \([0-9.]*\)\.0\/24.*/\1/p' "$TMP/up.log" | head -1)
  case "$subnet" in
    10.244.*) "$LAB" down --name "$L" --dir "$D" >/dev/null 2>&1 ;;
    *) break ;;
  esac
done
check "lab $L up (subnet $subnet.0/24)" "[ $up -eq 0 ] && [ -n '$subnet' ]" || true
export KUBECONFIG="$D/kubeconfig"
N1="$L-node-1" N2="$L-node-2"
IP1="$subnet.11" IP2="$subnet.12"
nx() { local n=$1; shift; ip netns exec "$n" "$@"; } # run in a lab node's (or our) netns

cat >"$TMP/app.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 30
      containers:
        - name: web
          image: busybox
          command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"]
          ports: [{name: http, containerPort: 8080}]
          readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
          resources: {requests: {cpu: 10m, memory: 8Mi}, limits: {memory: 32Mi}}
---
# Matches the selector, serves, but is never Ready: must receive nothing.
apiVersion: v1
kind: Pod
metadata: {name: unready, labels: {app: web}}
spec:
  containers:
    - name: web
      image: busybox
      command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"]
      ports: [{name: http, containerPort: 8080}]
      readinessProbe: {exec: {command: ["test", "-e", "/never"]}, periodSeconds: 1}
      resources: {requests: {cpu: 10m, memory: 8Mi}, limits: {memory: 32Mi}}
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  containers:
    - name: c
      image: busybox
      command: ["sleep", "3600"]
      resources: {requests: {cpu: 10m, memory: 8Mi}}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: web-headless}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: ext}
spec: {type: ExternalName, externalName: example.org}
---
apiVersion: v1
kind: Service
metadata: {name: empty}
spec:
  selector: {app: nothing-matches}
  ports: [{port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: fixed}
spec:
  clusterIP: 10.100.200.7
  selector: {app: web}
  ports: [{port: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: manual}
spec:
  ports: [{name: http, port: 81}]
---
apiVersion: v1
kind: Service
metadata: {name: sticky}
spec:
  selector: {app: web}
  sessionAffinity: ClientIP
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: webnp}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080, nodePort: 30123}]
---
apiVersion: v1
kind: Service
metadata: {name: weblb}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
EOF
$KUBECTL apply -f "$TMP/app.yaml" >"$TMP/apply.log" 2>&1
check "manifests applied" "[ $? -eq 0 ]" || cat "$TMP/apply.log"

ready_web() {
  $KUBECTL get pods -l app=web -o jsonpath='{range .items[*]}{.metadata.name} {.status.podIP} {.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' 2>/dev/null |
    awk '$1 != "unready" && $3 == "True"' | grep -c .
}
for _ in $(seq 1 120); do
  [ "$(ready_web)" -ge 3 ] &&
    [ "$($KUBECTL get pod client -o jsonpath='{.status.phase}' 2>/dev/null)" = Running ] &&
    [ "$($KUBECTL get pod unready -o jsonpath='{.status.phase}' 2>/dev/null)" = Running ] && break
  sleep 0.5
done
check "3 web pods Ready, client and unready Running" "[ $(ready_web) -ge 3 ]"
UNREADY_IP=$($KUBECTL get pod unready -o jsonpath='{.status.podIP}')
for _ in $(seq 1 40); do
  $KUBECTL get endpoints web -o jsonpath='{.subsets[*].notReadyAddresses[*].ip}' | grep -qw "$UNREADY_IP" &&
    [ "$($KUBECTL get endpoints web -o jsonpath='{.subsets[*].addresses[*].ip}' | wc -w)" -eq 3 ] && break
  sleep 0.25
done
check "unready pod $UNREADY_IP is a notReadyAddress of web" \
  '$KUBECTL get endpoints web -o jsonpath="{.subsets[*].notReadyAddresses[*].ip}" | grep -qw "$UNREADY_IP"'
CIP=$($KUBECTL get svc web -o jsonpath='{.spec.clusterIP}')
WEB_IPS=$($KUBECTL get endpoints web -o jsonpath='{.subsets[*].addresses[*].ip}')
pexec() { $KUBECTL exec client -- "$@" 2>&1; }

# ---- DNS from a pod ----
check "pod resolv.conf names the cluster DNS (nameserver 10.96.0.10)" \
  'pexec cat /etc/resolv.conf | grep -qx "nameserver 10.96.0.10"'
out=$(pexec nslookup web.default.svc.cluster.local)
check "nslookup web.default.svc.cluster.local from a pod = $CIP" \
  'echo "$out" | grep -A1 "^Name:.*web.default.svc.cluster.local" | grep -q "Address: $CIP$"' || echo "$out"
out=$(pexec nslookup web)
check "nslookup web (short name, search path) from a pod = $CIP" \
  'echo "$out" | grep -A1 "^Name:.*web.default.svc.cluster.local" | grep -q "Address: $CIP$"' || echo "$out"
out=$(pexec nslookup web-headless.default.svc.cluster.local)
hl_ok=1
for ip in $WEB_IPS; do echo "$out" | grep -q "Address: $ip$" || hl_ok=0; done
echo "$out" | grep -q "Address: $UNREADY_IP$" && hl_ok=0
check "headless web-headless returns the 3 ready pod IPs, not the unready one" "[ $hl_ok -eq 1 ]" || echo "$out"
out=$(pexec nslookup -type=CNAME ext.default.svc.cluster.local)
check "ExternalName ext returns CNAME example.org" 'echo "$out" | grep -q "canonical name = example.org"' || echo "$out"
out=$(pexec nslookup -type=SRV _http._tcp.web.default.svc.cluster.local)
check "SRV _http._tcp.web returns port 80 on web.default.svc.cluster.local" \
  'echo "$out" | grep -q "service = 0 [0-9]* 80 web.default.svc.cluster.local"' || echo "$out"

# ---- ClusterIP balancing from a pod ----
pexec sh -c 'for i in $(seq 300); do wget -qO- http://web; done' >"$TMP/300.txt"
sort "$TMP/300.txt" | uniq -c | sed 's/^/    /'
check "300 requests from the client pod all answered" "[ \$(grep -c '^web-' '$TMP/300.txt') -eq 300 ]"
check "they reach 3 backends" "[ \$(sort -u '$TMP/300.txt' | grep -c '^web-') -eq 3 ]"
check "each backend gets at least 50" "[ \$(sort '$TMP/300.txt' | uniq -c | awk '\$1 >= 50' | wc -l) -eq 3 ]"
check "the not-ready pod receives nothing" "! grep -q '^unready' '$TMP/300.txt'"

# ---- no endpoints: REJECT, not a timeout ----
ECIP=$($KUBECTL get svc empty -o jsonpath='{.spec.clusterIP}')
out=$(pexec wget -qO- http://empty)
check "service without endpoints: connection refused in the pod" 'echo "$out" | grep -q "Connection refused"' || echo "$out"
t0=$(date +%s%N)
nx "$N2" curl -s -m 5 "http://$ECIP/" >/dev/null 2>&1
rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "service without endpoints from a node: curl exit 7 (refused) in ${ms} ms < 1000" "[ $rc -eq 7 ] && [ $ms -lt 1000 ]"

# ---- user-chosen clusterIP, selector-less service ----
check "user-chosen clusterIP 10.100.200.7 kept" '[ "$($KUBECTL get svc fixed -o jsonpath="{.spec.clusterIP}")" = 10.100.200.7 ]'
check "user-chosen clusterIP answers from the pod" 'pexec wget -qO- http://10.100.200.7:8080 | grep -q "^web-"'
MAN_POD=$($KUBECTL get pods -l app=web -o jsonpath='{range .items[*]}{.metadata.name} {.status.podIP}{"\n"}{end}' | grep -v '^unready' | head -1)
MAN_NAME=${MAN_POD% *} MAN_IP=${MAN_POD#* }
cat >"$TMP/ep.yaml" <<EOF
apiVersion: v1
kind: Endpoints
metadata: {name: manual}
subsets:
  - addresses: [{ip: $MAN_IP}]
    ports: [{name: http, port: 8080}]
EOF
$KUBECTL apply -f "$TMP/ep.yaml" >/dev/null 2>&1
out=""
for _ in $(seq 1 20); do out=$(pexec wget -qO- http://manual:81) && [ "$out" = "$MAN_NAME" ] && break; sleep 0.25; done
check "selector-less service routes to hand-written Endpoints ($MAN_NAME)" '[ "$out" = "$MAN_NAME" ]'

# ---- ClientIP affinity ----
SCIP=$($KUBECTL get svc sticky -o jsonpath='{.spec.clusterIP}')
check "affinity uses the recent match" \
  'nx "$N1" iptables-legacy-save -t nat | grep -q -- "-m recent --rcheck --seconds 10800 --reap --name K8C-SEP-"'
pexec sh -c 'for i in $(seq 30); do wget -qO- http://sticky; done' >"$TMP/sticky-pod.txt"
check "sessionAffinity ClientIP: 30 requests from the pod hit one backend" \
  "[ \$(grep -c '^web-' '$TMP/sticky-pod.txt') -eq 30 ] && [ \$(sort -u '$TMP/sticky-pod.txt' | wc -l) -eq 1 ]"
for _ in $(seq 30); do nx "$N2" curl -s -m 2 "http://$SCIP/"; done >"$TMP/sticky-node.txt"
check "sessionAffinity ClientIP: 30 requests from node 2 hit one backend" \
  "[ \$(grep -c '^web-' '$TMP/sticky-node.txt') -eq 30 ] && [ \$(sort -u '$TMP/sticky-node.txt' | wc -l) -eq 1 ]"

# ---- an outside client on the lab network ----
EXT="$L-ext"
ip netns add "$EXT" && ip link add "$L-x0" type veth peer name eth0 netns "$EXT" &&
  ip link set "$L-x0" master "$L-br" up && ip -n "$EXT" addr add "$subnet.199/24" dev eth0 &&
  ip -n "$EXT" link set eth0 up && ip -n "$EXT" link set lo up
check "outside namespace $EXT on the lab bridge (lab /24 only, no default route)" \
  '[ $? -eq 0 ] && ! ip -n "$EXT" route | grep -q default'

# ---- NodePort via each node ----
for ip in "$IP1" "$IP2"; do
  check "NodePort 30123 via node $ip from the outside namespace" \
    'nx "$EXT" curl -s -m 3 "http://$ip:30123/" | grep -q "^web-"'
done
check "NodePort 30123 via node 1's IP from node 2's namespace" 'nx "$N2" curl -s -m 3 "http://$IP1:30123/" | grep -q "^web-"'

# ---- LoadBalancer ----
LBIP=""
for _ in $(seq 1 40); do
  LBIP=$($KUBECTL get svc weblb -o jsonpath='{.status.loadBalancer.ingress[0].ip}' 2>/dev/null)
  [ -n "$LBIP" ] && break
  sleep 0.25
done
check "servicelb gave weblb $LBIP from the lab pool $subnet.200-250" \
  '[[ "$LBIP" == "$subnet".* ]] && [ "${LBIP##*.}" -ge 200 ] && [ "${LBIP##*.}" -le 250 ]'
check "kubectl shows the EXTERNAL-IP" '$KUBECTL get svc weblb | grep -q "$LBIP"'
for via in "$IP1" "$IP2"; do
  ip -n "$EXT" route replace "$LBIP/32" via "$via"
  nx "$EXT" sh -c "for i in \$(seq 30); do curl -s -m 2 http://$LBIP/; done" >"$TMP/lb.txt"
  check "LoadBalancer $LBIP:80 from the lab network through node $via: 30/30 answered, 3 backends" \
    "[ \$(grep -c '^web-' '$TMP/lb.txt') -eq 30 ] && [ \$(sort -u '$TMP/lb.txt' | wc -l) -eq 3 ]"
done
check "the proxy routes it through a K8C-EXT chain" \
  'nx "$N1" iptables-legacy-save -t nat | grep -q -- "-d $LBIP/32 -p tcp .* -j K8C-EXT-"'
$KUBECTL patch svc weblb -p '{"spec":{"type":"ClusterIP"}}' >/dev/null 2>&1
gone=1
for _ in $(seq 1 40); do
  [ -z "$($KUBECTL get svc weblb -o jsonpath='{.status.loadBalancer.ingress[*].ip}')" ] &&
    ! nx "$N1" iptables-legacy-save -t nat | grep -q -- "-d $LBIP/32" && { gone=0; break; }
  sleep 0.25
done
check "type LoadBalancer → ClusterIP: ingress withdrawn and its rules removed" "[ $gone -eq 0 ]"

# ---- a deleted pod leaves the rotation within 1 s ----
# Not the pod the hand-written Endpoints name (its DNAT stays, rightly, after the delete).
VICTIM=$($KUBECTL get pods -l app=web -o jsonpath='{range .items[*]}{.metadata.name} {.status.podIP}{"\n"}{end}' |
  grep -v -e '^unready' -e "^$MAN_NAME " | head -1)
VNAME=${VICTIM% *} VIP=${VICTIM#* }
has_sep() { nx "$1" iptables-legacy-save -t nat | grep -q -- "--to-destination $VIP:8080"; }
check "victim $VNAME ($VIP) programmed on both nodes" 'has_sep "$N1" && has_sep "$N2"'
t0=$(date +%s%N)
$KUBECTL delete pod "$VNAME" --wait=false >/dev/null 2>&1
ms=-1
while [ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 5000 ]; do
  if ! has_sep "$N1" && ! has_sep "$N2"; then ms=$(( ($(date +%s%N) - t0) / 1000000 )); break; fi
  sleep 0.02
done
echo "    deleted pod out of both nodes' rules after ${ms} ms (including kubectl)"
check "deleted pod out of rotation within 1 s (${ms} ms)" "[ $ms -ge 0 ] && [ $ms -le 1000 ]"
check "it is still running (grace period), so the check means something" \
  'nx "$N1" curl -s -m 2 "http://$VIP:8080/" | grep -q "$VNAME"'
for _ in $(seq 60); do nx "$N1" curl -s -m 2 "http://$CIP/"; done >"$TMP/after.txt"
check "60 requests after the delete: all answered, none by $VNAME" \
  "[ \$(grep -c '^web-' '$TMP/after.txt') -eq 60 ] && ! grep -q '$VNAME' '$TMP/after.txt'"

ip netns del "$EXT" && EXT=""
"$LAB" down --name "$L" --dir "$D" >"$TMP/down.log" 2>&1
check "lab down leaves nothing with its prefix" "[ $? -eq 0 ] && grep -q 'nothing with its prefix remains' '$TMP/down.log'"
L=""
echo "runtime: $(( $(date +%s) - start ))s"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
