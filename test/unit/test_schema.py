"""The pillar's table (_utils/lxd_schema.py) and its defaults
(lxd/parameters/defaults.yaml) describe the same keys, both ways, and
every default passes its own entry: adding a key to one and not the other
fails here, as test_defaults_documented.py does for the README table."""

from pathlib import Path

import lxd_pillar_rules
import lxd_schema
import lxd_settings
import pytest
import yaml

from test.support.formula import use_settings

REPO = Path(__file__).resolve().parents[2]
PARAMETERS = yaml.safe_load((REPO / "lxd/parameters/defaults.yaml").read_text())
DEFAULTS = PARAMETERS["lxd"]


def default_keys(settings, prefix=""):
    """``{"install:method": "snap", ...}``: every key of the defaults, the
    keys of the mappings the table describes as closed walked into."""
    found = {}
    for key, value in settings.items():
        path = f"{prefix}{key}"
        found[path] = value
        if isinstance(value, dict) and lxd_schema.children(lxd_schema.SCHEMA, path):
            found.update(default_keys(value, f"{path}:"))
    return found


def test_every_default_key_has_an_entry_and_every_entry_a_default():
    assert sorted(default_keys(DEFAULTS)) == sorted(lxd_schema.SCHEMA)


@pytest.mark.parametrize("daemon", ["lxd", *(name for name in PARAMETERS if name != "lxd")])
def test_every_default_passes_its_own_entry(daemon):
    defaults = lxd_settings.defaults(PARAMETERS, daemon)
    for key, value in default_keys(defaults).items():
        spec = lxd_schema.SCHEMA[key]
        if value is not None:
            assert lxd_schema.problem(f"lxd:{key}", value, spec) is None, key
        assert not (value is None and spec.get("null") is False), key


def test_the_rules_the_table_names_exist():
    named = {spec["rule"] for spec in lxd_schema.SCHEMA.values() if "rule" in spec}
    # the rest ask this host's modules: lxd_pillar.HOST_RULES
    assert named - set(lxd_pillar_rules.RULES) == {"address", "addresses", "trust_clients"}


@pytest.mark.parametrize(("key", "bad"), [
    ("mode", "swarm"), ("install:channel", "stable\n"), ("install:hold", "yes"),
    ("timeouts:request", True), ("cluster:key_delete_grace", -1), ("files:deb_data", "rel"),
    ("sideload:binary", "/tmp/lxd"), ("init:storage_devices", ["sdb"]),
    ("proxy:no_proxy", [1]), ("client:cert", "client.crt"),
])
def test_an_entry_refuses_a_bad_value_naming_the_key(key, bad):
    found = lxd_schema.problem(f"lxd:{key}", bad, lxd_schema.SCHEMA[key])
    assert found and found.startswith(f"lxd:{key}: "), found


def test_validation_reads_the_settings_without_copying_them_into_the_opts(loaders):
    """In a state run config.get returns a view of the run's opts, which in
    Salt 3008 are copy-on-write (salt/utils/optsdict.py, v3008.3: indexing a
    nested mapping through a DictProxy copies the key into the opts that
    made it). Validation must not do that: the copy hides every later change
    of the settings from those opts and the loaders made from them."""
    optsdict = pytest.importorskip("salt.utils.optsdict")
    run_opts = optsdict.safe_opts_copy(loaders.opts)
    use_settings(loaders, {"install": {"method": "snap"}, "files": {"deb_data": "/var/lib/lxd"}})
    given = run_opts["lxd"]
    assert type(given).__name__ == "DictProxy"
    assert loaders.modules.lxd_pillar.validate(given, check_daemon=False) == []
    use_settings(loaders, {"install": {"method": "package"}})
    assert run_opts["lxd"] == {"install": {"method": "package"}}


@pytest.mark.parametrize(("pillar", "error"), [
    ({"timeouts": {"command": None}},
     "lxd:timeouts:command: must be a whole number of seconds above 0, not None"),
    ({"profiles": {"web": {"config": {"limits.cpu": None}}}},
     "lxd:profiles:web:config:limits.cpu: must be a string, number or boolean, not empty"),
    ({"sysctl": {"vm.max_map_count": None}},
     "lxd:sysctl:vm.max_map_count: must be a string, number or boolean, not empty"),
    ({"init": {"network": {"ipv4.address": None}}},
     "lxd:init:network:ipv4.address: must be a string, number or boolean, not empty"),
])
def test_a_null_where_a_value_is_sent_is_refused_naming_the_key(loaders, pillar, error):
    """A null would reach the daemon as "None" or lift a bound: refused as
    before the table (lxd_pillar at 2a796ec)."""
    assert error in loaders.modules.lxd_pillar.validate(pillar, check_daemon=False)


def test_a_null_hardening_entry_keeps_the_default_and_is_no_error(loaders):
    pillar = {"hardening": {"/proc/sched_debug": None}}
    assert loaders.modules.lxd_pillar.validate(pillar, check_daemon=False) == []


def test_a_backend_given_as_a_list_is_named_not_a_crash(loaders):
    assert loaders.modules.lxd_pillar.validate({"backend": ["lxd"]}, check_daemon=False) == [
        "lxd:backend: unknown backend ['lxd'] (expected one of: lxd, incus)"]
