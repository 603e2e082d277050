"""Cluster formation: the formula against raw LXD (or Incus, --backend
incus: `incus admin init --preseed`, `incus cluster add`), on this machine.

For each size N (default 3, 5 and 8), on fresh daemons each time:
  raw      N LXD daemons; the first `lxd init --preseed` bootstraps, then for
           each other member `lxc cluster add` on the first and
           `lxd init --preseed` with the token on the joiner (the floor);
  formula  N LXD daemons, a salt-master and N salt-minions (sandbox.py);
           `salt-run state.orchestrate lxd.cluster`, then a re-run of
           `salt '*' state.apply lxd` and one of the orchestrate, which
           must report no changes; then Salt's own floor under those
           re-runs: a state.apply of one no-op state, and an orchestrate
           whose one step pings every minion.
Daemons run with --debug in both, so that the API requests the formula
makes over each member's unix socket can be counted from its log. With
matplotlib (sandbox/requirements-benchmark.txt), formation time against N
is drawn in --plot (default BENCHMARKS.png).

    .venv/bin/python -m sandbox.benchmark [--sizes 3 5 8] [--root .benchmark] [--backend incus]

Not a test: it prints numbers (see BENCHMARKS.rst) and fails only when a
cluster does not form or a re-run reports changes.
"""

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from sandbox.sandbox import REPO, LXDHost, Sandbox, say

RAW_SUBNET = "127.0.20"
FORMULA_SUBNET = "127.0.21"
SALT_PORT = 14605


def timed(action):
    start = time.monotonic()
    result = action()
    return time.monotonic() - start, result


def online_members(host):
    return sorted(m["server_name"] for m in host.query("/1.0/cluster/members?recursion=1")
                  if m["status"] == "Online")


def preseed(host, document):
    subprocess.run([*host.tools["admin"], "init", "--preseed"], input=json.dumps(document),
                   text=True, env=host.env, check=True)


def form_by_hand(hosts):
    first, *joiners = hosts
    preseed(first, {
        "config": {"core.https_address": f"{first.address}:8443"},
        "storage_pools": [{"name": "local", "driver": "dir"}],
        "profiles": [{"name": "default",
                      "devices": {"root": {"path": "/", "pool": "local", "type": "disk"}}}],
        "cluster": {"server_name": first.name, "enabled": True},
    })
    for joiner in joiners:
        token = first.lxc("cluster", "add", joiner.name, "--quiet", capture=True).stdout.strip()
        preseed(joiner, {"cluster": {
            "enabled": True, "server_name": joiner.name,
            "server_address": f"{joiner.address}:8443", "cluster_token": token,
            "member_config": [{"entity": "storage-pool", "name": "local", "key": "source",
                               "value": ""}],
        }})


def raw(root, size, backend):
    hosts = [LXDHost(root / f"m{n}", f"m{n}", f"{RAW_SUBNET}.{n}", debug=True, backend=backend)
             for n in range(1, size + 1)]
    try:
        for host in hosts:
            host.start()
        for host in hosts:
            host.ready()
        seconds, _ = timed(lambda: form_by_hand(hosts))
        members = online_members(hosts[0])
        if len(members) != size:
            raise SystemExit(f"raw: {len(members)} of {size} members online")
        return seconds
    finally:
        for host in hosts:
            host.stop()


def changes_reported(applied):
    """(minion, state id) of every state that reported changes or failed."""
    return [(minion, state)
            for minion, states in applied.items()
            for state, run in (states.items() if isinstance(states, dict) else [("-", {})])
            if run.get("changes") or run.get("result") is not True]


def requests_since(hosts, before):
    return {name: host.requests_logged() - before[name] for name, host in hosts.items()}


# What any state.apply, and any orchestrate that asks every minion something,
# costs with this machine's Salt: the floors under the formula's re-runs.
FLOOR_SLS = {
    "apply.sls": "noop:\n  test.succeed_without_changes: []\n",
    "orchestrate.sls": "every-minion-asked:\n  salt.function:\n    - name: test.ping\n"
                       "    - tgt: '*'\n",
}


def write_floor_sls(sandbox):
    floor = sandbox.root / "formula" / "benchmark_floor"
    floor.mkdir(parents=True, exist_ok=True)
    for name, text in FLOOR_SLS.items():
        (floor / name).write_text(text)


def salt_floor(sandbox):
    """Seconds of a one-state state.apply on every minion, and of an
    orchestrate whose one step pings every minion."""
    apply_seconds, applied = timed(lambda: sandbox.salt(
        "--out=json", "--static", "*", "state.apply", "benchmark_floor.apply",
        capture=True, check=False))
    orchestrate_seconds, orchestrated = timed(lambda: sandbox.salt_run(
        "--out=json", "state.orchestrate", "benchmark_floor.orchestrate",
        capture=True, check=False))
    if applied.returncode or orchestrated.returncode:
        raise SystemExit(f"the floor runs failed:\n{applied.stdout}{orchestrated.stdout}")
    return apply_seconds, orchestrate_seconds


def formula(root, size, backend):
    sandbox = Sandbox(root, size=size, subnet=FORMULA_SUBNET, port=SALT_PORT,
                      cluster="bench", debug=True, backend=backend)
    try:
        write_floor_sls(sandbox)
        sandbox.up()
        hosts = sandbox.hosts
        before = {name: host.requests_logged() for name, host in hosts.items()}
        seconds, orchestrated = timed(lambda: sandbox.salt_run(
            "--out=json", "state.orchestrate", "lxd.cluster", capture=True, check=False))
        if orchestrated.returncode != 0:
            raise SystemExit(f"orchestrate failed:\n{orchestrated.stdout}{orchestrated.stderr}")
        members = online_members(next(iter(hosts.values())))
        if len(members) != size:
            raise SystemExit(f"formula: {len(members)} of {size} members online")
        formation_requests = requests_since(hosts, before)

        before = {name: host.requests_logged() for name, host in hosts.items()}
        rerun_seconds, reapplied = timed(lambda: sandbox.salt(
            "--out=json", "--static", "*", "state.apply", "lxd", capture=True, check=False))
        rerun_requests = requests_since(hosts, before)
        changed = changes_reported(json.loads(reapplied.stdout))
        steps = [step for states in json.loads(orchestrated.stdout)["data"].values()
                 for step in states.values()]
        reorchestrate_seconds, reorchestrated = timed(lambda: sandbox.salt_run(
            "--out=json", "state.orchestrate", "lxd.cluster", capture=True, check=False))
        if reorchestrated.returncode != 0:
            changed.append(("orchestrate", f"exit {reorchestrated.returncode}"))
        changed += [("orchestrate", step["__id__"]) for states in
                    json.loads(reorchestrated.stdout)["data"].values()
                    for step in states.values()
                    if step["changes"] or step["result"] is not True]
        floor_apply_seconds, floor_orchestrate_seconds = salt_floor(sandbox)
        return {
            "seconds": seconds,
            "floor_apply_seconds": floor_apply_seconds,
            "floor_orchestrate_seconds": floor_orchestrate_seconds,
            "reorchestrate_seconds": reorchestrate_seconds,
            "steps": sorted((step["__run_num__"], step["__id__"], step["duration"] / 1000)
                            for step in steps),
            "rerun_seconds": rerun_seconds,
            "rerun_changes": changed,
            "formation_requests": formation_requests,
            "rerun_requests": rerun_requests,
        }
    finally:
        sandbox.down()


def spread(counts):
    values = sorted(counts.values())
    return f"{sum(values) / len(values):.0f} (min {values[0]}, max {values[-1]})"


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[3, 5, 8])
    parser.add_argument("--plot", default=str(REPO / "BENCHMARKS.png"),
                        help="where to draw formation time against N (needs matplotlib)")
    parser.add_argument("--root", default=str(REPO / ".benchmark"))
    parser.add_argument("--backend", choices=("lxd", "incus"), default="lxd")
    args = parser.parse_args()
    root = Path(args.root).resolve()
    shutil.rmtree(root, ignore_errors=True)
    results = []
    for size in args.sizes:
        say(f"N={size}: raw {args.backend} init --preseed + cluster add")
        raw_seconds = raw(root / f"raw-{size}", size, args.backend)
        say(f"N={size}: salt-run state.orchestrate lxd.cluster")
        measured = formula(root / f"formula-{size}", size, args.backend)
        results.append((size, raw_seconds, measured))

    failed = False
    for size, raw_seconds, measured in results:
        print(f"\nN={size} ({args.backend})")
        print(f"  raw formation (init --preseed, cluster add)          {raw_seconds:6.2f} s")
        print(f"  formula formation (state.orchestrate lxd.cluster)    "
              f"{measured['seconds']:6.2f} s  ({len(measured['steps'])} orchestrate steps)")
        print(f"  ratio formula / raw                                  "
              f"{measured['seconds'] / raw_seconds:6.2f}")
        print(f"  re-run of state.apply lxd on all {size} members         "
              f"{measured['rerun_seconds']:6.2f} s")
        print(f"  re-run of state.orchestrate lxd.cluster (formed)     "
              f"{measured['reorchestrate_seconds']:6.2f} s")
        print(f"  Salt's floor: state.apply of one no-op state         "
              f"{measured['floor_apply_seconds']:6.2f} s")
        print(f"  Salt's floor: orchestrate pinging every minion       "
              f"{measured['floor_orchestrate_seconds']:6.2f} s")
        print(f"  changes reported by the re-runs                      "
              f"{len(measured['rerun_changes']):6d}")
        print(f"  LXD API requests per member, formation               "
              f"{spread(measured['formation_requests'])}")
        print(f"  LXD API requests per member, re-run                  "
              f"{spread(measured['rerun_requests'])}")
        for _, step, seconds in measured["steps"]:
            print(f"    {step:<50} {seconds:6.2f} s")
        if measured["rerun_changes"]:
            print(f"  changed or failed on re-run: {measured['rerun_changes']}")
            failed = True
    shutil.rmtree(root, ignore_errors=True)
    plot(results, args.backend, args.plot)
    return 1 if failed else 0


def plot(results, backend, path):
    """Formation time against N, raw and formula, in ``path`` (a PNG)."""
    try:
        import matplotlib
    except ImportError:
        print("no plot: pip install -r sandbox/requirements-benchmark.txt")
        return
    matplotlib.use("Agg")
    from matplotlib import pyplot

    sizes = [size for size, _, _ in results]
    figure, axes = pyplot.subplots(figsize=(6, 4), dpi=100)
    axes.plot(sizes, [raw_seconds for _, raw_seconds, _ in results], "o-",
              label=f"raw: {'incus admin' if backend == 'incus' else 'lxd'} init --preseed")
    axes.plot(sizes, [measured["seconds"] for _, _, measured in results], "s-",
              label="formula: state.orchestrate lxd.cluster")
    axes.plot(sizes, [2 * raw_seconds for _, raw_seconds, _ in results], ":", color="grey",
              label="2 x raw")
    axes.set_xlabel("cluster members (N)")
    axes.set_ylabel("formation time (s)")
    axes.set_xticks(sizes)
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    axes.legend()
    axes.set_title(f"Forming a cluster of N members ({backend}, this machine)")
    figure.tight_layout()
    figure.savefig(path)
    print(f"plot: {path}")


if __name__ == "__main__":
    sys.exit(main())
