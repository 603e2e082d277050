#!/usr/bin/env bash
# A local sandbox: a real salt-master, a real salt-minion and a real LXD
# daemon (its own LXD_DIR), then the main job:
#   salt '*' state.apply lxd
# Everything lives in .sandbox/ (the host's kernel gets the sysctl tuning).
#   bash test/sandbox.sh          set up and apply (re-run: applies again)
#   bash test/sandbox.sh stop     stop the daemons and remove .sandbox/
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
SANDBOX=$REPO/.sandbox
SALT="$REPO/.venv/bin/salt -c $SANDBOX/etc --timeout=300"

stop() {
    [[ -d $SANDBOX ]] || return 0
    for daemon in minion master; do
        [[ -f $SANDBOX/run/salt-$daemon.pid ]] && kill "$(cat "$SANDBOX/run/salt-$daemon.pid")" 2>/dev/null || true
    done
    if [[ -S $SANDBOX/lxd/unix.socket ]]; then
        LXD_DIR=$SANDBOX/lxd lxc profile device remove default eth0 >/dev/null 2>&1 || true
        LXD_DIR=$SANDBOX/lxd lxc network delete lxdbr0 >/dev/null 2>&1 || true
        LXD_DIR=$SANDBOX/lxd lxd shutdown --timeout 60 || true
    fi
    grep -o " $SANDBOX/[^ ]*" /proc/mounts | sort -r | xargs -r umount -l
    rm -rf "$SANDBOX"
    echo "== sandbox removed"
}

if [[ ${1:-} == stop ]]; then stop; exit 0; fi

bash test/setup.sh
mkdir -p "$SANDBOX"/{etc,run,pillar,lxd,log}

if ! LXD_DIR=$SANDBOX/lxd lxc info >/dev/null 2>&1; then
    echo "== starting LXD (LXD_DIR=$SANDBOX/lxd)"
    LXD_DIR=$SANDBOX/lxd nohup lxd --group root --logfile "$SANDBOX/log/lxd.log" >/dev/null 2>&1 &
    LXD_DIR=$SANDBOX/lxd lxd waitready --timeout 60
fi

cat > "$SANDBOX/etc/master" <<CONF
root_dir: $SANDBOX
pidfile: $SANDBOX/run/salt-master.pid
publish_port: 14505
ret_port: 14506
interface: 127.0.0.1
auto_accept: true
file_roots: {base: [$REPO]}
pillar_roots: {base: [$SANDBOX/pillar]}
log_file: $SANDBOX/log/master
CONF
cat > "$SANDBOX/etc/minion" <<CONF
id: sandbox-lxd-1
root_dir: $SANDBOX
pidfile: $SANDBOX/run/salt-minion.pid
master: 127.0.0.1
master_port: 14506
publish_port: 14505
log_file: $SANDBOX/log/minion
CONF
cat > "$SANDBOX/pillar/top.sls" <<CONF
base: {'*': [lxd]}
CONF
cat > "$SANDBOX/pillar/lxd.sls" <<CONF
lxd:
  mode: standalone
  install: {method: none}          # the sandbox started the daemon itself
  connection: {socket: $SANDBOX/lxd/unix.socket}
  files:
    sysctl_conf: $SANDBOX/sysctl.d/60-lxd.conf
    tmpfiles_conf: $SANDBOX/tmpfiles.d/lxd-hardening.conf
  init:
    network: {ipv4.address: none, ipv6.address: none}   # no outside network here
CONF

for daemon in master minion; do
    pid=$SANDBOX/run/salt-$daemon.pid
    if ! { [[ -f $pid ]] && kill -0 "$(cat "$pid")" 2>/dev/null; }; then
        echo "== starting salt-$daemon"
        "$REPO/.venv/bin/salt-$daemon" -c "$SANDBOX/etc" -d
    fi
done

echo "== waiting for the minion"
for _ in $(seq 60); do
    $SALT sandbox-lxd-1 test.ping --out=txt 2>/dev/null | grep -q True && break
    sleep 1
done
$SALT sandbox-lxd-1 saltutil.sync_all >/dev/null
echo "== salt '*' state.apply lxd"
$SALT '*' state.apply lxd --state-output=terse
echo "== LXD now has:"
LXD_DIR=$SANDBOX/lxd lxc storage list
LXD_DIR=$SANDBOX/lxd lxc profile show default
echo "== again: a second apply reports no changes"
$SALT '*' state.apply lxd --state-output=terse | tail -6
echo "== stop with: bash test/sandbox.sh stop"
