"""The join request (PUT /1.0/cluster) each daemon expects, pinned against
the projects' published API types:

- LXD 5.0 (stable-5.0, shared/api/cluster.go ClusterPut): server_name,
  enabled, member_config, cluster_address, cluster_certificate,
  server_address, cluster_password; the join token goes in cluster_password.
- LXD 5.21.2 and 6.x (ClusterPut gains cluster_token with API extension
  explicit_trust_token; 6.1 reads only cluster_token, 6.3 drops
  cluster_password).
- Incus 6.0 (shared/api/cluster.go ClusterPut): cluster_token only, no
  extension of its own (passwords were abolished before Incus 0.1).
"""

import pytest

from test.support.modules import load_plain

TOKEN = "eyJzZXJ2ZXJfbmFtZSI6Imx4ZDQifQ=="  # not a real one: only carried
PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
MEMBER_CONFIG = [{"entity": "storage-pool", "name": "local", "key": "source", "value": ""}]
COMMON = {
    "server_name": "lxd4",
    "server_address": "10.0.0.4:8443",
    "enabled": True,
    "cluster_address": "10.0.0.1:8443",
    "cluster_certificate": PEM,
    "member_config": MEMBER_CONFIG,
}
LXD_50_EXTENSIONS = ["clustering", "clustering_join", "clustering_join_token"]


@pytest.fixture
def join_request():
    # private to the module (the body holds the token; pure): the module
    # imported as a plain module
    private = load_plain("_modules/lxd_membership.py")._join_request

    def build(server, extensions):
        return private(
            "lxd4", "10.0.0.4:8443", TOKEN, PEM, MEMBER_CONFIG, "10.0.0.1:8443",
            server=server, extensions=extensions,
        )
    return build


def test_lxd_5_0_takes_the_token_as_cluster_password(join_request):
    assert join_request("lxd", LXD_50_EXTENSIONS) == dict(COMMON, cluster_password=TOKEN)


def test_lxd_with_explicit_trust_token_takes_cluster_token(join_request):
    body = join_request("lxd", [*LXD_50_EXTENSIONS, "explicit_trust_token"])
    assert body == dict(COMMON, cluster_token=TOKEN)


def test_incus_takes_cluster_token(join_request):
    # Incus 6.0 lists no explicit_trust_token: it never had passwords
    assert join_request("incus", LXD_50_EXTENSIONS) == dict(COMMON, cluster_token=TOKEN)
