"""The bootstrap member's side of the join chain (lxd_join.offer_joins)
against a scripted peer: what it does when a joiner is never ready, fails,
or used its token without reporting. The mine is the edge here (another
minion's reports arrive through it); the real chain, with real minions and
daemons, runs in test/integration/test_cluster.py."""

import contextlib
import importlib.util
import types
from pathlib import Path

import pytest
from salt.exceptions import CommandExecutionError, SaltReqTimeoutError

REPO = Path(__file__).resolve().parents[2]
TIMEOUTS = {"request": 1, "operation": 2, "command": 3}


def load():
    spec = importlib.util.spec_from_file_location("chain_module",
                                                  REPO / "_modules/lxd_join.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def chain(reports, members=(), token_used=False):
    """lxd_join with a peer that reports ``reports`` (state -> report,
    or None for silence), a cluster listing ``members``; returns the module
    and the calls it made."""
    module = load()
    calls = []

    def wait_for(opts, context, holder, name, accept, timeout):
        calls.append(("wait", name, timeout))
        for report in reports:
            if report is not None and accept(report):
                return report
        return None

    def record(name, result=None):
        def call(*args, **kwargs):
            calls.append((name, *args))
            return result
        return call

    module.__salt__ = {
        "config.get": lambda key, default: {"timeouts": TIMEOUTS},
        "cp.get_file_str": lambda url: (REPO / "lxd/parameters/defaults.yaml").read_text(),
        "lxd.cluster_members": lambda refresh=False: {m: {} for m in members},
        "lxd_mine.store": record("store", True),
        "lxd_mine.delete": record("delete", True),
        "lxd_membership.revoke_join_token": record("revoke", not token_used),
    }
    module.lxd_mine_requests = types.SimpleNamespace(
        session=lambda opts, context: contextlib.nullcontext(), wait_for=wait_for)
    module.__opts__, module.__context__ = {}, {}
    module.__grains__ = {"id": "lxd1"}
    module.publish_join_offer = record("offer", "2099-01-01T00:00:00Z")
    return module, calls


JOINER = [{"minion": "lxd2", "member": "lxd2"}]


def test_a_joiner_never_ready_gets_no_token_and_is_told_to_stop_waiting():
    module, calls = chain([None])
    outcome = module.offer_joins(JOINER, "r1")["lxd2"]
    assert outcome == "no join report within 6 s"  # command + operation + request
    assert not [call for call in calls if call[0] == "offer"]
    refusal = [call for call in calls if call[0] == "store"][0]
    assert refusal[2]["refused"].startswith("lxd1 stopped waiting for it to be prepared")


def test_a_failed_preparation_is_its_outcome_and_no_token_is_issued():
    module, calls = chain([{"run": "r1", "state": "failed", "reason": "no package"}])
    assert module.offer_joins(JOINER, "r1")["lxd2"] == "not joined: no package"
    assert not [call for call in calls if call[0] == "offer"]


def test_reports_of_another_run_are_not_taken():
    module, calls = chain([{"run": "old", "state": "ready"}, {"run": "old", "state": "joined"}])
    assert module.offer_joins(JOINER, "r1")["lxd2"].startswith("no join report")


def test_a_used_token_without_a_report_is_waited_for_again_before_the_next_offer():
    module, calls = chain([{"run": "r1", "state": "ready"}], token_used=True)
    outcome = module.offer_joins(JOINER + [{"minion": "lxd3", "member": "lxd3"}], "r1")
    waits = [call for call in calls if call[0] == "wait"]
    # lxd2: ready, join, join again (its token was used); then lxd3's turn
    assert [wait[2] for wait in waits[:3]] == [6, 9, 9]
    assert outcome["lxd2"] == "no join report within 9 s"
    first_lxd3 = calls.index(("offer", "lxd3", "lxd3", "r1"))
    assert calls.index(("offer", "lxd2", "lxd2", "r1")) < first_lxd3
    assert [call for call in calls[:first_lxd3] if call[0] == "wait"] == waits[:4]


def test_a_name_the_cluster_already_lists_is_refused():
    module, calls = chain([{"run": "r1", "state": "ready"}], members=("lxd1", "lxd2"))
    outcome = module.offer_joins(JOINER, "r1")["lxd2"]
    assert outcome.startswith("not joined: the cluster already lists a member named lxd2")
    assert not [call for call in calls if call[0] in ("offer", "wait")]


def test_an_offer_the_master_did_not_take_in_time_has_its_token_revoked():
    """A request-channel timeout while the offer goes to the mine: the token
    join_offer issued is revoked all the same."""
    module, calls = chain([])
    real = load()  # with its own publish_join_offer

    def store(*args, **kwargs):
        raise SaltReqTimeoutError("Message timed out")

    real.__salt__ = dict(module.__salt__, **{"lxd_mine.store": store})
    real.__grains__ = module.__grains__
    real._join_offer = lambda member, run: {"run": run, "token": "issued"}
    with pytest.raises(CommandExecutionError, match="the master did not take the join offer"):
        real.publish_join_offer("lxd2", "lxd2", "r1")
    assert ("revoke", "lxd2") in calls
