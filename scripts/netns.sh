#!/usr/bin/env bash
# Network namespaces for the cross-namespace cluster test (client/tests/netns.rs): a
# scheduler, N workers and a client, each in its own Linux network namespace with its own
# address on a private subnet, joined by veth pairs to a bridge in a namespace of its own.
#
#   scripts/netns.sh check            exit 0 if namespaces can be made here, else print why
#   scripts/netns.sh up ID N          create tsn-br-ID, tsn-sched-ID, tsn-w1-ID..tsn-wN-ID,
#                                     tsn-client-ID (an interrupted setup is undone)
#   scripts/netns.sh addr ID NODE     the address of NODE (sched, client, w1, ...)
#   scripts/netns.sh cut ID NODE      take NODE's link down (its bridge-side veth)
#   scripts/netns.sh down ID          kill what runs inside and delete every tsn-*-ID
#                                     namespace (idempotent; nothing there is fine)
#
# Addresses (10.213.0.0/24, used only inside these namespaces; no namespace has a route
# anywhere else, and the root namespace gets no interface at all): the scheduler is
# 10.213.0.1, the client 10.213.0.2, worker i 10.213.0.(10+i). Each ID has a bridge of
# its own, so concurrent runs with different IDs (the test uses its process id) share
# the subnet without meeting. Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) and iproute2.
set -euo pipefail

SUBNET_PREFIX=10.213.0
NETMASK=24

die() {
  echo "netns.sh: $*" >&2
  exit 1
}

ns_name() { echo "tsn-$2-$1"; }

node_addr() {
  case "$1" in
    sched) echo "$SUBNET_PREFIX.1" ;;
    client) echo "$SUBNET_PREFIX.2" ;;
    w[0-9]*)
      local i="${1#w}"
      [[ "$i" =~ ^[0-9]+$ ]] && ((i >= 1 && i <= 200)) || die "bad worker $1"
      echo "$SUBNET_PREFIX.$((10 + i))"
      ;;
    *) die "unknown node $1 (sched, client, w1, w2, ...)" ;;
  esac
}

check_id() {
  [[ "${1:-}" =~ ^[A-Za-z0-9]{1,20}$ ]] || die "ID must be 1-20 letters or digits, got '${1:-}'"
}

cmd_check() {
  if [[ "$(uname -s)" != Linux ]]; then
    echo "network namespaces need Linux (this is $(uname -s))"
    exit 2
  fi
  if [[ "$(id -u)" != 0 ]]; then
    echo "creating network namespaces needs root (running as uid $(id -u))"
    exit 2
  fi
  if ! command -v ip >/dev/null 2>&1; then
    echo "the ip command (iproute2) is not installed"
    exit 2
  fi
  local probe="tsn-probe-$$"
  local err
  if ! err=$(ip netns add "$probe" 2>&1); then
    echo "ip netns add fails here: $err"
    exit 2
  fi
  if ! err=$(ip -n "$probe" link add name probe0 type veth peer name probe1 2>&1); then
    ip netns del "$probe" 2>/dev/null || true
    echo "veth pairs cannot be made here: $err"
    exit 2
  fi
  if ! err=$(ip -n "$probe" link add name probebr type bridge 2>&1); then
    ip netns del "$probe" 2>/dev/null || true
    echo "bridges cannot be made here: $err"
    exit 2
  fi
  ip netns del "$probe"
  echo "network namespaces available"
}

cmd_down() {
  local id="$1"
  local ns
  # Names of this ID only: tsn-<node>-<id>.
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^tsn-[a-z0-9]+-$id\$" || true); do
    # Processes still inside keep the namespace alive after its name is gone.
    local pids
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    if [[ -n "$pids" ]]; then
      kill -9 $pids 2>/dev/null || true
    fi
    ip netns del "$ns" 2>/dev/null || true
  done
}

cmd_up() {
  local id="$1" workers="$2"
  [[ "$workers" =~ ^[0-9]+$ ]] && ((workers >= 1 && workers <= 200)) || die "N must be 1-200, got '$workers'"
  # Start clean, and undo a half-made setup if anything below fails or we are interrupted.
  cmd_down "$id"
  trap 'cmd_down "$id"' EXIT
  trap 'exit 130' INT TERM

  local br
  br=$(ns_name "$id" br)
  ip netns add "$br"
  ip -n "$br" link set lo up
  ip -n "$br" link add name br0 type bridge
  ip -n "$br" link set br0 up

  local nodes=(sched client)
  local i
  for ((i = 1; i <= workers; i++)); do nodes+=("w$i"); done
  local node ns
  for node in "${nodes[@]}"; do
    ns=$(ns_name "$id" "$node")
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    # The bridge-side end is named after the node (what `cut` takes down); the
    # node's end is eth0 in its own namespace.
    ip -n "$br" link add name "$node" type veth peer name eth0 netns "$ns"
    ip -n "$br" link set "$node" master br0
    ip -n "$br" link set "$node" up
    ip -n "$ns" addr add "$(node_addr "$node")/$NETMASK" dev eth0
    ip -n "$ns" link set eth0 up
  done
  # Bridge ports forward as soon as they are up (no STP on br0): nothing to wait for.
  trap - EXIT INT TERM
  echo "up: ${#nodes[@]} namespaces tsn-*-$id on $SUBNET_PREFIX.0/$NETMASK"
}

cmd_cut() {
  local id="$1" node="$2"
  node_addr "$node" >/dev/null
  ip -n "$(ns_name "$id" br)" link set "$node" down
}

usage() {
  sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}

case "${1:-}" in
  check) cmd_check ;;
  up)
    [[ $# == 3 ]] || usage
    check_id "$2"
    cmd_up "$2" "$3"
    ;;
  down)
    [[ $# == 2 ]] || usage
    check_id "$2"
    cmd_down "$2"
    ;;
  cut)
    [[ $# == 3 ]] || usage
    check_id "$2"
    cmd_cut "$2" "$3"
    ;;
  addr)
    [[ $# == 3 ]] || usage
    node_addr "$3"
    ;;
  *) usage ;;
esac
