"""Every write the formula makes, answered asynchronously as LXD 6.8 and
6.9 answer them (see scripted_lxd.py for the answers, pinned from
canonical/lxd lxd-6.9 lxd/operations.go, lxd/operations/response.go,
lxd/storage_pools.go, lxd/networks.go, lxd/profiles.go, and LXD 5.0 /
Incus 7.0's wait), through the formula's real modules and pylxd: an
operation that succeeds is waited for, one that fails fails the state
with LXD's own error, one that does not end in time is reported as it
is. The same writes run synchronously on the real LXD 5.0 and Incus 6.0
daemons of test/functional and test/integration."""

import re
from pathlib import Path

import pytest
from salt.exceptions import CommandExecutionError
from scripted_lxd import ERROR_BODY, OPERATION_BODY, ScriptedLXD

from test.support.formula import use_settings

REPO = Path(__file__).resolve().parents[2]
INVALID = 'Invalid value for config key "limits.cpu": Invalid CPU limit'
TIMEOUTS = {"request": 5, "operation": 1, "command": 5}

# Every write the formula sends, by the function that sends it
WRITES = [
    # lxd_resources._take, lxd_init._apply_step: lxd-6.9 storagePoolsPost,
    # storagePoolPut, storagePoolDelete, networksPost, networkPut,
    # networkDelete, profilePut (profilesPost stays sync), projects
    ("POST", "storage-pools", {"name": "fast", "driver": "dir"}),
    ("POST", "storage-pools", {"name": "fast", "driver": "dir", "target": "m1"}),
    ("PUT", "storage-pools/fast", {"config": {}, "description": ""}),
    ("DELETE", "storage-pools/fast", None),
    ("POST", "networks", {"name": "br1", "type": "bridge"}),
    ("PUT", "networks/br1", {"config": {}, "description": ""}),
    ("DELETE", "networks/br1", None),
    ("POST", "profiles", {"name": "web"}),
    ("PUT", "profiles/web", {"config": {}, "devices": {}, "description": ""}),
    ("DELETE", "profiles/web", None),
    ("POST", "projects", {"name": "ci"}),
    ("PUT", "projects/ci", {"config": {}, "description": ""}),
    ("DELETE", "projects/ci", None),
    # lxd.config_update (PATCH /1.0)
    ("PATCH", "", {"config": {"core.https_address": ":8443"}}),
    # lxd_trust
    ("POST", "certificates", {"name": "salt:ci", "type": "client"}),
    ("PATCH", "certificates/abc", {"name": "salt:ci"}),
    ("DELETE", "certificates/abc", None),
    # lxd_instances
    ("POST", "instances", {"name": "c1", "source": {"type": "image"}}),
    ("PUT", "instances/c1", {"config": {}}),
    ("PUT", "instances/c1/state", {"action": "start"}),
    ("DELETE", "instances/c1", None),
    # lxd_images
    ("POST", "images", {"source": {"type": "url"}}),
    ("POST", "images/aliases", {"name": "tiny", "target": "abc"}),
    ("PUT", "images/aliases/tiny", {"target": "abc"}),
    ("DELETE", "images/abc", None),
    # lxd_membership
    ("PUT", "cluster", {"server_name": "m1", "enabled": True}),
    ("POST", "cluster/members/m2/state", {"action": "evacuate"}),
    ("DELETE", "cluster/members/m2", None),
]


@pytest.fixture
def daemon(loaders):
    scripted = ScriptedLXD()
    use_settings(loaders, {"connection": {"socket": scripted.socket}, "timeouts": TIMEOUTS})
    yield scripted
    scripted.stop()


def test_every_write_goes_through_lxd_request():
    """So that the writes below stand for all: no module calls pylxd's
    post/put/patch/delete itself."""
    sources = [path for part in ("_modules", "_states", "_runners")
               for path in sorted((REPO / part).glob("*.py"))]
    direct = [f"{path.name}:{number}" for path in sources
              for number, line in enumerate(path.read_text().splitlines(), 1)
              if re.search(r"\.(post|put|patch|delete)\(", line)]
    assert direct == []


def request(loaders, method, path, body):
    params = {}
    if body and "target" in body:
        params["target"] = body.pop("target")
    return loaders.modules.lxd.request(method, path, body, **params)


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_a_write_waits_for_its_operation(loaders, daemon, method, path, body):
    done = request(loaders, method, path, body)
    assert (done["status"], done["description"]) == ("Success", f"{method} /1.0/{path}")
    assert [write[:2] for write in daemon.writes] == [(method, path)]


@pytest.mark.parametrize("shape", [ERROR_BODY, OPERATION_BODY])
@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_a_write_whose_operation_fails_raises_lxds_error(loaders, daemon, method, path,
                                                         body, shape):
    daemon.fail, daemon.wait_shape = INVALID, shape
    with pytest.raises(CommandExecutionError) as raised:
        request(loaders, method, path, body)
    assert str(raised.value) == f"LXD refused the request: {INVALID}"


def test_an_operation_still_running_at_the_bound_is_reported_as_it_is(loaders, daemon):
    daemon.running = True
    with pytest.raises(CommandExecutionError) as raised:
        loaders.modules.lxd.request("PUT", "profiles/web", {"config": {}})
    assert str(raised.value) == (
        f"LXD at {daemon.socket} did not finish 'PUT /1.0/profiles/web' within 1 s "
        "(lxd:timeouts:operation): it is Running and goes on in the background")


def test_a_wait_lxd_ends_early_reports_the_operation_as_it_is(loaders, daemon):
    daemon.running, daemon.wait_shape = True, OPERATION_BODY
    with pytest.raises(CommandExecutionError) as raised:
        loaders.modules.lxd.request("DELETE", "projects/ci")
    assert str(raised.value) == (
        f"LXD at {daemon.socket} did not finish 'DELETE /1.0/projects/ci' (LXD ended "
        "the wait after 0 s of 1 s) (lxd:timeouts:operation): it is Running and goes "
        "on in the background")


DECLARED = {
    "storage_pools": {"fast": {"driver": "dir"}},
    "networks": {"br1": {"config": {"ipv4.address": "none", "ipv6.address": "none"}}},
    "profiles": {"web": {"config": {"limits.cpu": "2"}}},
    "projects": {"ci": {"config": {"features.images": "false"}}},
}


@pytest.mark.parametrize("kind", sorted(DECLARED))
def test_declared_resources_are_created_through_operations(loaders, daemon, kind):
    done = loaders.states.lxd_resources.managed("lxd-resources", resources={
        kind: DECLARED[kind]}, mode="standalone")
    assert done.result is True, done.comment
    name = next(iter(DECLARED[kind]))
    assert done.changes, done.comment
    assert f"{kind.replace('_', '-')}/{name}" in daemon.objects


@pytest.mark.parametrize("shape", [ERROR_BODY, OPERATION_BODY])
@pytest.mark.parametrize("kind", sorted(DECLARED))
def test_a_failed_operation_fails_the_resources_state_with_lxds_error(loaders, daemon,
                                                                      kind, shape):
    daemon.fail, daemon.wait_shape = INVALID, shape
    done = loaders.states.lxd_resources.managed("lxd-resources", resources={
        kind: DECLARED[kind]}, mode="standalone")
    assert (done.result, done.changes) == (False, {})
    assert f"LXD refused the request: {INVALID}" in done.comment
    assert "nothing was changed" in done.comment


def test_a_failed_operation_fails_a_preseed_and_reverts_it(loaders, daemon):
    preseed = {"profiles": [{"name": "web", "config": {"limits.cpu": "2"}}],
               "projects": [{"name": "ci"}]}
    daemon.objects["profiles/default"] = {"name": "default", "config": {}, "devices": {}}
    applied = []

    def fail_the_project(method, path, query, body):
        applied.append((method, path))
        daemon.fail = INVALID if path == "projects" else None
        return original(method, path, query, body)

    original, daemon.answer = daemon.answer, fail_the_project
    with pytest.raises(CommandExecutionError) as raised:
        loaders.modules.lxd_init.apply_preseed(preseed)
    assert str(raised.value) == (
        f"applying the preseed failed and was reverted: LXD refused the request: {INVALID}")
    assert "profiles/web" not in daemon.objects
