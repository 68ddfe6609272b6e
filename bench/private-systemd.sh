#!/usr/bin/env bash
# A private `systemd --user` for benchmarks, in its own mount AND cgroup namespace rooted at a
# fresh sub-cgroup (../shared/notes/control-plane.md). Never start `systemd --user` any other
# way on a shared machine: without the cgroup namespace it moves every process into new cgroups.
#   bench/private-systemd.sh start DIR   # prints the D-Bus address for --systemd-bus
#   bench/private-systemd.sh stop DIR
# Needs root.
set -euo pipefail
cmd=${1:?start|stop}; dir=$(realpath -m "${2:?DIR}")
CG2=$(findmnt -n -o TARGET -t cgroup2 | head -1)
SUB="$CG2/sniperforge-bench-$(basename "$dir")"
case "$cmd" in
start)
  [ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 1; }
  mkdir -p "$dir/runtime" "$dir/home" && chmod 700 "$dir/runtime" "$dir/home"
  ORIG=$(sed -n 's/^0:://p' /proc/self/cgroup)
  mkdir -p "$SUB"
  echo $$ > "$SUB/cgroup.procs"
  rm -f "$dir/runtime/bus"
  RUNTIME="$dir/runtime" HOMEDIR="$dir/home" unshare --mount --cgroup --propagation private sh -c '
    mount -t tmpfs none /run/systemd && mkdir -p /run/systemd/system
    mount -t cgroup2 none /sys/fs/cgroup
    export XDG_RUNTIME_DIR="$RUNTIME" HOME="$HOMEDIR" XDG_CONFIG_HOME="$HOMEDIR/.config"
    exec /lib/systemd/systemd --user
  ' > "$dir/systemd.log" 2>&1 &
  echo $! > "$dir/systemd.pid"
  echo $$ > "$CG2$ORIG/cgroup.procs"
  for _ in $(seq 1 500); do
    [ -S "$dir/runtime/bus" ] && { echo "unix:path=$dir/runtime/bus"; exit 0; }
    sleep 0.02
  done
  echo "no bus socket after 10 s; see $dir/systemd.log" >&2; exit 1
  ;;
stop)
  pid=$(cat "$dir/systemd.pid")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 400); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  # Remove the sub-cgroup tree depth-first.
  [ -d "$SUB" ] && find "$SUB" -depth -type d -exec rmdir {} + 2>/dev/null || true
  ;;
*) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
