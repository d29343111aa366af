#!/usr/bin/env bash
# `make up`: a 2-node lab, the hello example applied, and a wait until its
# Service answers through the ClusterIP from inside a lab node. Idempotent:
# on a running lab it only (re)applies the example and checks it.
set -euo pipefail
BINDIR="${BINDIR:-bin}"
NAME="${LAB_NAME:-lab}"
LAB="$BINDIR/k8c-lab"

"$LAB" up --name "$NAME" --nodes "${LAB_NODES:-2}"
KC=$("$LAB" kubeconfig --name "$NAME")
if command -v kubectl >/dev/null; then
  K=(kubectl --kubeconfig "$KC")
else
  K=("$BINDIR/k8cctl" --kubeconfig "$KC")
fi
"${K[@]}" apply -f examples/hello/

cip=""
for _ in $(seq 1 60); do
  cip=$("${K[@]}" get svc hello -o jsonpath='{.spec.clusterIP}' 2>/dev/null || true)
  [ -n "$cip" ] && break
  sleep 0.5
done
printf 'waiting for http://%s (service hello) to answer from inside %s-node-1 ' "$cip" "$NAME"
page=""
for _ in $(seq 1 240); do
  if page=$("$LAB" exec "$NAME-node-1" --name "$NAME" -- curl -s -m 2 "http://$cip" 2>/dev/null) && [ -n "$page" ]; then
    break
  fi
  page=""
  printf '.'
  sleep 0.5
done
echo
if [ -z "$page" ]; then
  echo "the hello service did not answer; see '$LAB status --name $NAME' and '$LAB logs $NAME-node-1 kubelet --name $NAME'" >&2
  exit 1
fi
echo "answered: $page"
cat <<EOT

Try next:
  export KUBECONFIG=$KC
  kubectl get nodes -o wide
  kubectl get deploy,rs,pods,svc,endpoints -o wide
  kubectl scale deployment hello --replicas=5
  $LAB exec $NAME-node-2 -- curl -s http://$cip
  $LAB exec $NAME-node-1 -- busybox nslookup hello.default.svc.cluster.local 10.96.0.10
  $LAB status        # nodes, daemons, memory
  $LAB node stop $NAME-node-2; kubectl get nodes -w    # then: $LAB node start $NAME-node-2
  make down
EOT
