"""What the formula treats as secret (lxd_secrets.masked, masked_text), and the
refusals that keep secrets where they belong (lxd_mine.send, trust token
names and expiries), no daemon involved."""

import lxd_secrets
import pytest
from salt.exceptions import CommandExecutionError

# The snap's lxd.buginfo (canonical/lxd-pkg-snap, snapcraft/commands/buginfo;
# the repository has no tags: branch 5.0-edge at c8a1c717, 5.21-edge and
# latest-edge at 1be7337f) prints, between ``` fences, `lxc info` (the
# server as YAML: canonical/lxd lxc/info.go remoteInfo at lxd-5.0.2,
# yaml.Marshal of api.Server), `lxc list --format=yaml` (5.0-edge; the
# later branches print the table) and `lxc profile show default`. The YAML
# below is what lxc 5.0.2 prints for the config set on a daemon here,
# go-yaml's folding of a long value and block scalars included.
BUGINFO = """\
# Detailed LXD information
## Daemon configuration
```
config:
  core.https_address: 127.0.21.9:8443
  core.proxy_http: http://u:pr0xy-pass@proxy.lan:3128
  core.remote_token_expiry: 1H
  loki.auth.password: l0ki-pass
  loki.auth.username: l0ki-user
  acme.provider.environment: AWS_SECRET_ACCESS_KEY=acme-s3cret
api_extensions:
- storage_zfs_remove_snapshots
environment:
  certificate: |
    -----BEGIN CERTIFICATE-----
    MIIB+DCCAX2gAwIBAgIQPITVaVcYR9T9tl4yg5Cx9jAKBggqhkjOPQQDAzAwMRww
    -----END CERTIFICATE-----
  server_name: lxd1
```

## Instances
```
- architecture: x86_64
  config:
    cloud-init.user-data: |-
      #cloud-config

      password: ci-pass
    image.os: busybox
  devices: {}
  expanded_config:
    cloud-init.user-data: |-
      #cloud-config

      password: ci-pass
    environment.FOO: env-secret
    image.os: busybox
    user.vendor-data: 'vendor-s3cret'
  name: c1
  status: Stopped
```

## Default profile
```
config:
  environment.LONG: a long value with spaces that go-yaml might fold across lines
    when it is longer than eighty characters wide ok
  limits.cpu: "2"
  user.user-data: '#cloud-config'
description: Default LXD profile
devices: {}
name: default
used_by: []
```
"""

SECRETS = ("pr0xy-pass", "l0ki-pass", "l0ki-user", "acme-s3cret", "ci-pass", "env-secret",
           "vendor-s3cret", "eighty characters", "#cloud-config")


def test_every_kind_of_secret_key_is_masked():
    config = {
        "core.trust_password": "s", "bgp.peers.p1.password": "s", "loki.auth.username": "s",
        "loki.auth.password": "s", "storage.linstor.client_key": "s",
        "network.ovn.client_key": "s", "core.https_private_key": "s",
        "acme.provider.environment": "s", "cloud-init.user-data": "s",
        "cloud-init.network-config": "s", "user.user-data": "s", "user.vendor-data": "s",
        "user.network-config": "s", "environment.FOO": "s", "maas.api.key": "s",
        # Incus 7.0 (v7.0.1 internal/server/cluster/config/config.go,
        # internal/server/storage/drivers/driver_truenas.go)
        "instances.tpm.platform_key": "s", "truenas.api_key": "s",
    }
    shown = {"cluster.join_token_expiry": "15M", "core.remote_token_expiry": "1H",
             "loki.api.url": "https://loki.lan", "user.comment": "web", "acme.domain": "x.lan",
             "network.ovn.ca_cert": "pem", "limits.cpu": "2",
             "instances.tpm.platform_cert": "pem", "truenas.host": "nas.lan"}
    masked = lxd_secrets.masked({"config": dict(config, **shown),
                                         "expanded_config": dict(config)})
    assert masked["config"] == dict(dict.fromkeys(config, "********"), **shown)
    assert masked["expanded_config"] == dict.fromkeys(config, "********")


def test_server_environment_is_not_taken_for_environment_variables():
    server = {"environment": {"server_name": "lxd1", "certificate": "pem"}}
    assert lxd_secrets.masked(server) == server


def test_buginfo_text_keeps_no_secret_and_every_other_line():
    masked = lxd_secrets.masked_text(BUGINFO)

    for secret in SECRETS:
        assert secret not in masked
    assert "  core.proxy_http: http://u:********@proxy.lan:3128\n" in masked
    assert "  loki.auth.password: ********\n" in masked
    # a block scalar, a folded value: the key stays, every line of the value goes
    assert "    cloud-init.user-data: ********\n    image.os: busybox\n" in masked
    assert "  environment.LONG: ********\n  limits.cpu: \"2\"\n" in masked
    kept = [line for line in BUGINFO.splitlines()
            if line.strip() and not any(secret in line for secret in SECRETS)
            and not line.startswith(("  environment.", "    cloud-init.", "    environment.",
                                     "  loki.", "  acme.", "  core.proxy", "  user.",
                                     "    user."))]
    # in order: lines dropped are the masked values' only
    assert [line for line in masked.splitlines() if line in kept] == kept
    assert "  core.remote_token_expiry: 1H\n" in masked
    assert "    MIIB+DCCAX2gAwIBAgIQPITVaVcYR9T9tl4yg5Cx9jAKBggqhkjOPQQDAzAwMRww\n" in masked


def test_mine_send_publishes_the_formulas_own_entries_only(loaders):
    send = loaders.modules.lxd_mine.send
    for name, function in (("lxd_server", "lxd_membership.issue_join_token"),
                           ("lxd_join_offer_lxd4", "lxd_trust.connection_facts"),
                           ("anything", "test.ping")):
        with pytest.raises(CommandExecutionError,
                           match=f"own mine entries only .*not '{name}' from '{function}'"):
            send(name, function, "lxd4")
    assert loaders.modules.lxd_mine.check_published("lxd_client", "lxd_trust.request")


@pytest.mark.parametrize(("name", "problem"), [
    ("../../etc/cron.d/x", "names a path"), ("a/b", "names a path"), ("..", "names a path"),
    ("", "names a path"), ("-rf", "starts with '-'"), ("lap\ntop", "control characters"),
    ("lap\x7ftop", "control characters"),
])
def test_a_trust_token_name_cannot_leave_the_token_directory(loaders, name, problem):
    with pytest.raises(CommandExecutionError, match=f"(?s)name: .* {problem}.*: a client's name is the "
                       "token's file name under .*/lxd-trust-tokens"):
        loaders.modules.lxd_trust.token(name)


@pytest.mark.parametrize("expiry", ["1 day", "0M", "", "12"])
def test_a_trust_token_expiry_is_an_lxd_expiry(loaders, expiry):
    # refused before the daemon is asked anything (there is none here)
    with pytest.raises(CommandExecutionError, match="expiry: .* is not an LXD expiry"):
        loaders.modules.lxd_trust.issue_trust_token("laptop", expiry=expiry)
