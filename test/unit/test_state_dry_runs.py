"""Every state module in _states/, loaded as a plain module with a mocked
``__salt__`` (test.support.modules.Salt: only the functions declared here
answer, any other call fails the test): its ``test=True`` path reports the
exact pending changes and calls no write, and its refusal paths fail before
any change, naming the key or argument. The ``__salt__`` functions each
state module calls are declared once, in its ``salt_<module>`` below:
rename them there when an execution function moves."""

import pytest
from salt.exceptions import CommandExecutionError

from test.support.modules import Salt, load_plain


def state(module, salt, test=True, states=None):
    """``_states/<module>.py`` with this ``__salt__``, in dry-run mode or not."""
    return load_plain(f"_states/{module}.py", salt=salt, opts={"test": test},
                      states=states or {}, pillar={}, context={})


def fails(exc):
    def raise_it(*args, **kwargs):
        raise CommandExecutionError(exc)
    return raise_it


# -- lxd ------------------------------------------------------------------

def salt_lxd(**overrides):
    return Salt({
        "lxd_pillar.preseed": lambda init: {"storage_pools": [{"name": "local"}]},
        "lxd.reachable": lambda: True,
        "lxd.endpoint": lambda: "unix:///run/lxd.socket",
        "lxd_init.init_drift": lambda mode, preseed: [],
        "lxd_init.init_record": lambda: None,
        "lxd_init.initialised": lambda: False,
        "lxd_init.preseed_plan": lambda preseed: {"storage_pools": {"local": "created"}},
        "lxd_server.listener_config": lambda listeners, addresses: {
            "core.https_address": "10.0.0.1:8443"},
        "lxd.config_get": lambda unmasked=False, refresh=False: {"core.https_address": ""},
        **overrides,
    })


def test_lxd_initialised_dry_run_lists_the_preseed_plan():
    ret = state("lxd", salt_lxd()).initialised("lxd", init={"storage": True})
    assert ret == {"name": "lxd", "result": None, "comment": "LXD would be initialised.",
                   "changes": {"storage_pools": {"local": "created"}}}


def test_lxd_initialised_refuses_a_changed_mode_before_any_change():
    salt = salt_lxd(**{"lxd_init.init_drift": lambda mode, preseed: [
        "lxd:mode is cluster, but LXD was initialised standalone"]})
    ret = state("lxd", salt, test=False).initialised("lxd", mode="cluster")
    assert ret["result"] is False and ret["changes"] == {}
    assert ret["comment"] == ("lxd:mode is cluster, but LXD was initialised standalone; "
                              "nothing was changed.")


def test_lxd_listening_dry_run_shows_the_listener_change():
    ret = state("lxd", salt_lxd()).listening("lxd", {"https": True}, {"https": "10.0.0.1"})
    assert ret["result"] is None
    assert ret["changes"] == {"core.https_address": {"old": "", "new": "10.0.0.1:8443"}}


def test_lxd_listening_refuses_a_listener_this_daemon_lacks():
    salt = salt_lxd(**{"lxd_server.listener_config": fails(
        "lxd:listen:bgp: this LXD lacks the API extension network_bgp")})
    ret = state("lxd", salt, test=False).listening("lxd", {"bgp": True})
    assert ret["result"] is False and ret["changes"] == {}
    assert ret["comment"].startswith("lxd:listen:bgp: ")


def test_lxd_reachable_dry_run_reports_a_silent_daemon_as_pending():
    salt = salt_lxd(**{"lxd.info": fails("connection refused")})
    ret = state("lxd", salt).reachable()
    assert ret["result"] is None and ret["changes"] == {}
    assert ret["comment"] == "LXD does not answer at unix:///run/lxd.socket yet: connection refused"


# -- lxd_pillar -----------------------------------------------------------

def salt_lxd_pillar(errors=()):
    return Salt({"lxd_pillar.validate": lambda pillar, defaults: list(errors)})


def test_lxd_pillar_valid_changes_nothing_when_valid():
    ret = state("lxd_pillar", salt_lxd_pillar()).valid("lxd", {"mode": "standalone"})
    assert (ret["result"], ret["changes"]) == (True, {})


def test_lxd_pillar_valid_names_every_bad_key():
    salt = salt_lxd_pillar(["lxd:mode: must be one of cluster, standalone"])
    ret = state("lxd_pillar", salt, test=False).valid("lxd", {"mode": "x"})
    assert ret == {"name": "lxd", "result": False, "changes": {},
                   "comment": "Invalid pillar, nothing was changed:\n"
                              "lxd:mode: must be one of cluster, standalone"}


# -- lxd_mine -------------------------------------------------------------

def salt_lxd_mine(**overrides):
    return Salt({
        "lxd_mine.check_published": lambda name, function: None,
        "lxd_cluster.status": lambda: {"member": "m1"},
        "lxd_mine.entry": lambda name: {"member": "old"},
        **overrides,
    })


def test_lxd_mine_published_dry_run_shows_old_and_new():
    ret = state("lxd_mine", salt_lxd_mine()).published("lxd_cluster", "lxd_cluster.status")
    assert ret["result"] is None
    assert ret["changes"] == {"mine": {"old": {"member": "old"}, "new": {"member": "m1"}}}


def test_lxd_mine_published_refuses_a_function_not_the_entrys_own():
    salt = salt_lxd_mine(**{"lxd_mine.check_published": fails(
        "mine entry lxd_cluster publishes lxd_cluster.status, not cmd.run")})
    ret = state("lxd_mine", salt, test=False).published("lxd_cluster", "cmd.run")
    assert ret["result"] is False and ret["changes"] == {}
    assert "not cmd.run" in ret["comment"]


# -- lxd_resources and lxd_profile ----------------------------------------

PENDING = {"changes": {"profiles": {"web": "created"}}, "errors": [], "notes": []}


def salt_lxd_resources(outcome=PENDING, errors=()):
    return Salt({
        "lxd_resources.ensure": lambda resources, mode=None, test=False: outcome,
        "lxd_pillar.validate": lambda pillar, check_daemon=True: list(errors),
    })


def test_lxd_resources_managed_dry_run_lists_the_pending_changes():
    ret = state("lxd_resources", salt_lxd_resources()).managed("r", {"profiles": {"web": {}}})
    assert ret == {"name": "r", "result": None, "changes": {"profiles": {"web": "created"}},
                   "comment": "The resources would be changed."}


def test_lxd_resources_managed_fails_naming_the_key():
    outcome = {"changes": {}, "notes": [],
               "errors": ["lxd:storage_pools:fast: driver is required"]}
    ret = state("lxd_resources", salt_lxd_resources(outcome)).managed("r", {})
    assert ret["result"] is False and ret["changes"] == {}
    assert ret["comment"] == "lxd:storage_pools:fast: driver is required"


def test_lxd_profile_present_dry_run_shows_the_profile_created():
    ret = state("lxd_profile", salt_lxd_resources()).present("web", config={"limits.cpu": 2})
    assert ret["result"] is None and ret["changes"] == {"profile": "created"}


@pytest.mark.parametrize(("kwargs", "named"), [
    ({"remote_addr": "https://10.0.0.1:8443"}, "remote_addr: "),
    ({"config": {"limits.cpu": "x"}}, "profile web:config: "),
])
def test_lxd_profile_present_refuses_before_any_change(kwargs, named):
    salt = salt_lxd_resources(errors=["lxd:profiles:web:config: must be a mapping of strings"])
    ret = state("lxd_profile", salt, test=False).present("web", **kwargs)
    assert ret["result"] is False and ret["changes"] == {}
    assert ret["comment"].startswith(named), ret


# -- lxd_host -------------------------------------------------------------

def salt_lxd_host(**overrides):
    return Salt({
        "lxd_host.sysctl_diff": lambda values, path: {
            "live": {"fs.aio-max-nr": {"old": "65536", "new": "524288"}}, "file": True,
            "skipped": {}},
        "lxd_host.hardening_diff": lambda paths, path, harden: {
            "modes": {"/proc/sched_debug": {"old": "0644", "new": "0400"}}, "file": True,
            "skipped": {}},
        **overrides,
    })


def test_lxd_host_sysctl_tuned_dry_run_lists_keys_and_file():
    ret = state("lxd_host", salt_lxd_host()).sysctl_tuned("/etc/sysctl.d/60-lxd.conf",
                                                          {"fs.aio-max-nr": 524288})
    assert ret["result"] is None
    assert ret["changes"] == {"fs.aio-max-nr": {"old": "65536", "new": "524288"},
                              "/etc/sysctl.d/60-lxd.conf": "written"}


def test_lxd_host_hardened_dry_run_lists_modes_and_file():
    ret = state("lxd_host", salt_lxd_host()).hardened("/etc/tmpfiles.d/lxd.conf",
                                                      ["/proc/sched_debug"])
    assert ret["result"] is None
    assert ret["changes"] == {"/proc/sched_debug": {"old": "0644", "new": "0400"},
                              "/etc/tmpfiles.d/lxd.conf": "written"}


def test_lxd_host_sysctl_tuned_fails_on_an_unwritable_file():
    salt = salt_lxd_host(**{"lxd_host.sysctl_diff": fails("lxd:files:sysctl_conf: not writable")})
    ret = state("lxd_host", salt).sysctl_tuned("/x", {})
    assert ret["result"] is False and ret["changes"] == {}
    assert "lxd:files:sysctl_conf" in ret["comment"]


# -- lxd_sideload ---------------------------------------------------------

def salt_lxd_sideload(**overrides):
    return Salt({"lxd_sideload.plan": lambda binary, snap, **target: {
        "binary": {"old": None, "new": "sha256:ab"}}, **overrides})


def test_lxd_sideload_applied_dry_run_names_what_would_change():
    ret = state("lxd_sideload", salt_lxd_sideload()).applied("lxd", binary="salt://lxd")
    assert ret["result"] is None and ret["changes"] == {"binary": {"old": None,
                                                                   "new": "sha256:ab"}}
    assert ret["comment"] == "The LXD sideload would change: binary."


def test_lxd_sideload_applied_refuses_a_missing_file_naming_the_key():
    salt = salt_lxd_sideload(**{"lxd_sideload.plan": fails(
        "lxd:sideload:binary: salt://lxd not found")})
    ret = state("lxd_sideload", salt).applied("lxd", binary="salt://lxd")
    assert ret["result"] is False and ret["changes"] == {}
    assert "lxd:sideload:binary" in ret["comment"]


# -- lxd_image ------------------------------------------------------------

def salt_lxd_image():
    return Salt({
        "lxd_images.local_files": lambda source, rootfs, saltenv: {"fingerprint": "f" * 64},
        "lxd_images.alias_target": lambda name: None,
    })


def test_lxd_image_present_dry_run_shows_the_new_target():
    ret = state("lxd_image", salt_lxd_image()).present("tiny", "salt://tiny.tar.gz")
    assert ret["result"] is None and ret["changes"] == {"image": {"old": None, "new": "f" * 64}}


def test_lxd_image_present_refuses_an_unknown_source_type():
    ret = state("lxd_image", salt_lxd_image(), test=False).present("tiny", {"type": "ftp"})
    assert ret["result"] is False and ret["changes"] == {}
    assert ret["comment"].startswith("source: type 'ftp' is not taken")


# -- lxd_instance and lxd_container ---------------------------------------

def salt_lxd_instance():
    return Salt({
        "lxd_instances.get": lambda name, unmasked=False: {"status": "Stopped"},
        "lxd_instances.differences": lambda name, profiles, config, devices, current: {
            "config": {"limits.cpu": {"old": None, "new": "2"}}},
    })


def test_lxd_instance_present_dry_run_lists_config_and_status():
    ret = state("lxd_instance", salt_lxd_instance()).present(
        "c1", config={"limits.cpu": "2"}, running=True)
    assert ret["result"] is None
    assert ret["changes"] == {"config": {"limits.cpu": {"old": None, "new": "2"}},
                              "status": {"old": "Stopped", "new": "Running"}}


def test_lxd_instance_present_refuses_a_remote_argument():
    ret = state("lxd_instance", salt_lxd_instance(), test=False).present(
        "c1", remote_addr="https://10.0.0.1:8443")
    assert ret["result"] is False and ret["changes"] == {}
    assert "remote_addr" in ret["comment"]


def test_lxd_container_present_is_the_instance_state_for_containers():
    calls = []
    states = {"lxd_instance.present": lambda name, **kwargs: calls.append(kwargs) or {}}
    state("lxd_container", Salt(), states=states).present("c1", running=True)
    assert calls == [{"running": True, "type": "container"}]


def test_lxd_container_frozen_is_refused_naming_what_to_use():
    ret = state("lxd_container", Salt(), test=False).frozen("c1")
    assert ret["result"] is False and ret["changes"] == {}
    assert "lxd_container.frozen" in ret["comment"] and "freeze" in ret["comment"]


# -- lxd_trust ------------------------------------------------------------

def salt_lxd_trust(**overrides):
    plan = {"changes": {"ci": {"old": None, "new": "trusted"}}, "steps": [("add", "ci")]}
    return Salt({
        "lxd_trust.wanted": lambda clients, cluster, metrics, client_minions: {"notes": []},
        "lxd_cluster.shared_settings_keeper": lambda mode: {"member": None, "where": None},
        "lxd_trust.plan_for": lambda wanted: plan,
        **overrides,
    })


def test_lxd_trust_clients_trusted_dry_run_lists_the_plan():
    ret = state("lxd_trust", salt_lxd_trust()).clients_trusted("trust", {"ci": {}}, timeout=5)
    assert ret["result"] is None and ret["changes"] == {"ci": {"old": None, "new": "trusted"}}


def test_lxd_trust_clients_trusted_refuses_a_bad_certificate_naming_the_client():
    salt = salt_lxd_trust(**{"lxd_trust.wanted": fails("lxd:trust:clients:ci: no cert")})
    ret = state("lxd_trust", salt, test=False).clients_trusted("trust", {"ci": {}}, timeout=5)
    assert ret["result"] is False and ret["changes"] == {}
    assert "lxd:trust:clients:ci" in ret["comment"]


# -- lxd_cluster ----------------------------------------------------------

def salt_lxd_cluster(plan):
    return Salt({"lxd_membership.removal_plan": lambda name, evacuate, force: plan})


def test_lxd_cluster_member_absent_dry_run_names_the_steps():
    plan = {"refused": None, "member": True, "evacuate": True,
            "notes": ["2 instances move", "3 voters stay"]}
    ret = state("lxd_cluster", salt_lxd_cluster(plan)).member_absent("m3", evacuate=True)
    assert ret == {"name": "m3", "result": None,
                   "changes": {"m3": {"old": "member", "new": "evacuated and removed"}},
                   "comment": "m3 would be evacuated and removed: "
                              "2 instances move; 3 voters stay."}


def test_lxd_cluster_member_absent_refuses_a_quorum_loss_before_any_change():
    plan = {"refused": "it would leave 1 of 3 voters", "member": True, "evacuate": False,
            "notes": []}
    ret = state("lxd_cluster", salt_lxd_cluster(plan), test=False).member_absent("m3")
    assert ret["result"] is False and ret["changes"] == {}
    assert ret["comment"] == "Removing m3 is refused: it would leave 1 of 3 voters."


# -- lxd_join -------------------------------------------------------------

def salt_lxd_join(**overrides):
    return Salt({"lxd_membership.join_tokens": lambda: {"m3": {}, "m2": {}}, **overrides})


def test_lxd_join_join_tokens_revoked_dry_run_names_the_tokens():
    ret = state("lxd_join", salt_lxd_join()).join_tokens_revoked("ci")
    assert ret["result"] is None
    assert ret["changes"] == {"join tokens": {"old": ["m2", "m3"], "new": []}}


def test_lxd_join_join_tokens_revoked_fails_when_unreadable():
    salt = salt_lxd_join(**{"lxd_membership.join_tokens": fails("LXD is not reachable")})
    ret = state("lxd_join", salt, test=False).join_tokens_revoked("ci")
    assert ret["result"] is False and ret["changes"] == {}


# -- lxd_snap -------------------------------------------------------------

def salt_lxd_snap(**overrides):
    return Salt({
        "lxd_snap.normalise_channel": lambda channel: channel,
        "lxd_snap.info": lambda name, timeout: None,
        **overrides,
    })


def test_lxd_snap_installed_dry_run_shows_the_install():
    ret = state("lxd_snap", salt_lxd_snap()).installed("lxd", channel="5.21/stable")
    assert ret == {"name": "lxd", "result": None,
                   "changes": {"installed": {"old": None, "new": "5.21/stable"}},
                   "comment": "Snap lxd would be brought to 5.21/stable."}


def test_lxd_snap_installed_refuses_a_downgrade_naming_the_key():
    salt = salt_lxd_snap(**{
        "lxd_snap.info": lambda name, timeout: {"channel": "6/stable", "version": "6.1"},
        "lxd_snap.is_downgrade": lambda name, channel, timeout: True})
    ret = state("lxd_snap", salt, test=False).installed("lxd", channel="5.21/stable")
    assert ret["result"] is False and ret["changes"] == {}
    assert ret["comment"].startswith("lxd:install:channel: moving lxd from 6/stable (6.1) "
                                     "to 5.21/stable would downgrade it")
