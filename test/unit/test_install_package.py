"""lxd.install as Salt renders it: the backend's package (with what its
bridges need) and service, and the release's backports when asked (Incus
on Debian 12); and pillar strings in the SLS files staying data, never a
shell command or YAML of their own."""

import pytest

from test.support.formula import use_settings


def declarations(high, state_id):
    """{function: args} of one state, args as a flat mapping."""
    found = {}
    for module, args in high[state_id].items():
        if module.startswith("__"):
            continue
        function = next(arg for arg in args if isinstance(arg, str))
        found[f"{module}.{function}"] = {
            key: value for arg in args if isinstance(arg, dict) for key, value in arg.items()
        }
    return found


def test_incus_installs_its_package_from_backports(loaders):
    use_settings(loaders, {"backend": "incus", "install": {"backports": True}})
    codename = loaders.grains["oscodename"]
    high = loaders.modules.state.show_sls("lxd.install")

    repo = declarations(high, "lxd-backports")["pkgrepo.managed"]
    # signed by Debian's archive keyring: Debian 13 has no apt-key
    assert repo["name"] == ("deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
                            f"http://deb.debian.org/debian {codename}-backports main")
    package = declarations(high, "lxd-package")["pkg.installed"]
    assert package["pkgs"] == ["incus", "nftables", "dnsmasq-base"]
    assert package["fromrepo"] == f"{codename}-backports"
    assert {"pkgrepo": "lxd-backports"} in package["require"]
    assert declarations(high, "lxd-service")["service.running"]["name"] == "incus"
    assert "lxd-snap" not in high and "lxd-sideload" not in high


def test_a_mirror_url_and_no_backports_by_default(loaders):
    use_settings(loaders, {"install": {"method": "package",
                                       "backports": "http://mirror.example.net/debian"}})
    high = loaders.modules.state.show_sls("lxd.install")
    name = declarations(high, "lxd-backports")["pkgrepo.managed"]["name"]
    assert " http://mirror.example.net/debian " in name and name.startswith("deb [signed-by=")
    assert declarations(high, "lxd-package")["pkg.installed"]["pkgs"][0] == "lxd"

    use_settings(loaders, {"install": {"method": "package"}})
    high = loaders.modules.state.show_sls("lxd.install")
    assert "lxd-backports" not in high
    assert "fromrepo" not in declarations(high, "lxd-package")["pkg.installed"]


def test_the_snap_install_brings_fuse_before_snapd_and_migrates_a_packages_lxd(loaders):
    use_settings(loaders, {"install": {"method": "snap"}, "files": {"deb_data": "/srv/deb-lxd"}})
    high = loaders.modules.state.show_sls("lxd.install")
    fuse = declarations(high, "lxd-snapd-fuse")["pkg.installed"]
    assert fuse["pkgs"] == ["squashfuse", "fuse3"]
    assert {"pkg": "lxd-snapd-fuse"} in declarations(high, "lxd-snapd")["pkg.installed"]["require"]
    # a package's LXD with data (validation lets only Ubuntu's 4.0/5.0 snaps through)
    migrated = declarations(high, "lxd-deb-migrated")["cmd.run"]
    assert migrated["name"] == "/snap/bin/lxd.migrate -yes"
    assert migrated["onlyif"] == [{"fun": "file.directory_exists",
                                   "path": "/srv/deb-lxd/database"}]
    assert {"lxd_snap": "lxd-snap"} in migrated["require"]


def migration_check(loaders, deb_data):
    """Salt's state machinery runs lxd-deb-migrated's onlyif as rendered
    (test=True: lxd.migrate itself is never run); its result."""
    use_settings(loaders, {"install": {"method": "snap"}, "files": {"deb_data": deb_data}})
    migrated = declarations(loaders.modules.state.show_sls("lxd.install"),
                            "lxd-deb-migrated")["cmd.run"]
    return loaders.modules.state.single("cmd.run", name=migrated["name"],
                                        onlyif=migrated["onlyif"], test=True)


def test_the_package_data_path_never_reaches_a_shell(loaders, tmp_path):
    pwned = tmp_path / "pwned"
    # a directory of that name may exist: the path is data, not a command
    deb_data = tmp_path / f"lxd; touch {pwned}; echo "
    skipped = migration_check(loaders, str(deb_data))
    assert skipped.comment == "onlyif condition is false"
    assert not pwned.exists()

    (deb_data / "database").mkdir(parents=True)
    pending = migration_check(loaders, str(deb_data))
    assert pending.result is None and "would have been executed" in pending.comment
    assert not pwned.exists()


# A pillar string that, pasted into YAML as it is, would declare a state.
INJECTED = "\nlxd-injected:\n  cmd.run:\n    - name: touch /tmp/pwned\n"


@pytest.mark.parametrize(("sls", "settings", "state_id", "argument"), [
    ("lxd.install", {"install": {"snap": "lxd" + INJECTED}}, "lxd-snap", "name"),
    ("lxd.install", {"install": {"channel": "stable" + INJECTED}}, "lxd-sideload", "channel"),
    ("lxd.install", {"files": {"sideload_binary": "/x" + INJECTED}}, "lxd-sideload",
     "binary_path"),
    ("lxd.install", {"install": {"method": "package", "service": "lxd" + INJECTED}},
     "lxd-service", "name"),
    ("lxd.install", {"install": {"method": "package", "backports": "http://m" + INJECTED}},
     "lxd-backports", "name"),
    ("lxd.tuning", {"files": {"sysctl_conf": "/x" + INJECTED}}, "lxd-sysctl-tuning", "name"),
    ("lxd.tuning", {"files": {"tmpfiles_conf": "/x" + INJECTED}}, "lxd-kernel-hardening",
     "name"),
    ("lxd.cluster.refresh", {"install": {"snap": "lxd" + INJECTED}},
     "lxd-cluster-member-refreshed", "snap"),
])
def test_pillar_strings_render_as_one_yaml_string(loaders, sls, settings, state_id, argument):
    # rendering comes before lxd-pillar-valid runs: a value must not become YAML
    use_settings(loaders, settings)
    high = loaders.modules.state.show_sls(sls)
    assert isinstance(high, dict) and "lxd-injected" not in high, high
    (declared,) = declarations(high, state_id).values()
    assert INJECTED in declared[argument]
