#!/usr/bin/env bash
# The formula on a laptop: three LXD hosts (real LXD daemons on 127.0.10.x)
# run by a real salt-master and three salt-minions, all in .sandbox/.
#   bash sandbox/sandbox.sh          install what is missing, then
#                                    state.apply lxd, orchestrate lxd.cluster,
#                                    a container on the cluster
#   bash sandbox/sandbox.sh --hosts  the same on systemd hosts with their own
#                                    network, LXD installed from its package
#   bash sandbox/sandbox.sh down     stop everything, remove .sandbox/
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ${1:-up} == down ]]; then
    exec .venv/bin/python -m sandbox.sandbox down
fi
bash test/setup.sh
exec .venv/bin/python -m sandbox.sandbox up "$@"
