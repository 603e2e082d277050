"""Clusters of real minions and real daemons under a real master (the
integration tier's; the master comes from its ``cluster_environment``
fixture): the operator's commands, each host's pillar, and readers of what
state runs return."""

import json
import subprocess
from pathlib import Path

import yaml

from test.support.pillars import simulated_member
from test.support.story import Story
from test.support.waiting import wait_until


class Cluster(Story):
    """The operator's view: hosts (a minion and its LXD daemon each), pillar
    per host, and the salt, salt-run and salt-key commands. A module's
    tests build on one another through it (a Story)."""

    def __init__(self, master, pillar_dir, tmp_path, start_daemon):
        super().__init__()
        self.master = master
        self.start_daemon = start_daemon
        self.pillar_dir = pillar_dir
        self.tmp_path = tmp_path
        self.salt = master.salt_cli(timeout=300)
        self.run = master.salt_run_cli(timeout=600)
        self.minions = {}
        self.daemons = {}
        self.pillars = {}

    def add_hosts(self, *names):
        for name in names:
            self.daemons[name] = self.start_daemon()
            self.set_pillar(name)
            minion = self.master.salt_minion_daemon(
                name, overrides={"log_level_logfile": "debug"}
            )
            minion.start()
            self.minions[name] = minion
        for name in names:
            synced = self.salt.run("saltutil.sync_all", minion_tgt=name)
            assert synced.returncode == 0, synced

    def set_pillar(self, name, **lxd):
        daemon = self.daemons[name]
        files = self.tmp_path / name
        files.mkdir(exist_ok=True)
        pillar = simulated_member(daemon, files, "ci")
        # removals on key deletion at once, but where a test re-keys
        pillar["cluster"]["key_delete_grace"] = 0
        for key, value in lxd.items():
            pillar[key] = dict(pillar.get(key, {}), **value) if isinstance(value, dict) else value
        self.pillars[name] = pillar
        (self.pillar_dir / f"{name}.sls").write_text(yaml.safe_dump({"lxd": pillar}))
        self.write_top()
        if name in self.minions:
            self.refresh(name)

    def write_top(self, by_grain=()):
        """The pillar top file: each host's pillar targeted by minion id, or
        for the hosts in ``by_grain`` by a grain ``lxd_host: <host>``."""
        top = {host: [host] for host in self.pillars if host not in by_grain}
        top.update({f"lxd_host:{host}": [{"match": "grain"}, host] for host in by_grain})
        (self.pillar_dir / "top.sls").write_text(yaml.safe_dump({"base": top}))

    def wait_logged(self, text, timeout=120):
        """The last master log line holding ``text``, once one is there (the
        reactor works asynchronously)."""
        master_log = Path(self.master.config["log_file"])

        def last_line():
            lines = [line for line in master_log.read_text().splitlines() if text in line]
            return lines[-1] if lines else None

        return wait_until(last_line, timeout, f"the master to log {text!r}")

    def mine(self, minion, entry):
        read = self.run.run("mine.get", minion, entry)
        assert read.returncode == 0, read
        return (read.data or {}).get(minion)

    def refresh(self, *names):
        for name in names or self.minions:
            done = self.salt.run("saltutil.refresh_pillar", "wait=True", minion_tgt=name)
            assert done.returncode == 0, done

    def orchestrate(self, *args):
        result = self.run.run("state.orchestrate", "lxd.cluster", *args)
        data = result.data
        assert isinstance(data, dict), result
        return list(data["data"].values())[0]

    def forge(self, minion, entry, **published):
        """``minion`` rewrites its own mine entry ``entry`` as it likes: a
        grain it sets itself, sent with Salt's own mine.send."""
        grain = f"forged_{entry}"
        set_grain = self.salt.run("grains.setval", grain, json.dumps(published),
                                  minion_tgt=minion)
        assert set_grain.returncode == 0, set_grain
        sent = self.salt.run("mine.send", entry, "mine_function=grains.get", grain,
                             minion_tgt=minion)
        assert sent.data is True, sent

    def members(self, via):
        return {
            member["server_name"]: member["status"]
            for member in self.daemons[via].query("/1.0/cluster/members?recursion=1")
        }

    def teardown(self):
        for minion in self.minions.values():
            minion.terminate()


def failures(steps):
    """The steps of a run that did not succeed: their comments, by key."""
    return {key: step["comment"] for key, step in steps.items() if step["result"] is not True}


def by_id(steps):
    assert isinstance(steps, dict), steps
    return {step["__id__"]: step for step in steps.values()}


def changed(steps):
    """The changes of the steps that made some, by state id."""
    return {step["__id__"]: step["changes"] for step in steps.values() if step["changes"]}


def self_signed(directory):
    """A self-signed client certificate (and its key) in ``directory``: its PEM."""
    cert, key = directory / "forger.crt", directory / "forger.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:secp384r1", "-nodes", "-days", "1", "-subj", "/CN=forger",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert.read_text()
