"""The https relation through the mine: a real master (with the formula's
reactor), a two-member cluster of real minions and LXD daemons listening on
https, and a client minion. One story, in order: the client asks, one
member trusts it for the cluster with the access the hosts' allow list
gives (not what the client publishes; a minion the list does not name gets
nothing), the client connects with what the mine tells it, and deleting
its key revokes it."""

import os
import stat
from pathlib import Path

import pylxd
import pylxd.client
import pytest
import yaml

from test.support.clusters import Cluster, by_id, changed, failures, self_signed
from test.support.waiting import wait_until

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOSTS = ("lxd-t1", "lxd-t2")
CLIENT = "lxd-client-1"
FORGER = "lxd-client-2"


class TrustCluster(Cluster):
    """Cluster hosts listening on https, and a client minion beside them."""

    def add_client(self, name):
        files = self.tmp_path / name
        files.mkdir()
        settings = {"cluster": "ci", "cert": str(files / "client.crt"),
                    "key": str(files / "client.key")}
        self.pillars[name] = {"client": settings}
        (self.pillar_dir / f"{name}.sls").write_text(yaml.safe_dump({"lxd": self.pillars[name]}))
        top = {"base": {host: [host] for host in self.pillars}}
        (self.pillar_dir / "top.sls").write_text(yaml.safe_dump(top))
        # Salt 3007 loads its x509 states (lxd.client) only with this flag;
        # 3008 has them on
        minion = self.master.salt_minion_daemon(name, overrides={"features": {"x509_v2": True}})
        minion.start()
        self.minions[name] = minion
        synced = self.salt.run("saltutil.sync_all", minion_tgt=name)
        assert synced.returncode == 0, synced
        return settings

    def apply(self, name, sls="lxd"):
        result = self.salt.run("state.apply", sls, minion_tgt=name)
        assert isinstance(result.data, dict), result
        return by_id(result.data)

    def trusted(self):
        return {cert["name"]: cert
                for cert in self.daemons["lxd-t1"].query("/1.0/certificates?recursion=1")}


@pytest.fixture(scope="module")
def cluster(cluster_environment):
    reactor = [{"salt/key": [os.path.join(REPO, "reactor", "key_deleted.sls")]}]
    with cluster_environment(TrustCluster, "lxd-trust-master", reactor=reactor) as env:
        yield env


def test_the_cluster_forms_listening_on_https(cluster):
    cluster.add_hosts(*HOSTS)
    for name in HOSTS:
        address = cluster.daemons[name].address
        cluster.set_pillar(name, listen={"https": True, "metrics": True},
                           addresses={"https": address, "metrics": address},
                           trust={"client_minions": {"ci": {
                               "target": "lxd-client-*", "projects": ["default"]}}})
    steps = cluster.orchestrate()
    assert failures(steps) == {}
    for name in HOSTS:
        config = cluster.daemons[name].query("/1.0")["config"]
        assert config["core.https_address"] == f"{cluster.daemons[name].address}:8443"
        assert config["core.metrics_address"] == f"{cluster.daemons[name].address}:9100"


def test_a_client_minion_publishes_its_certificate_and_keeps_its_key(cluster):
    """Needs the cluster the first test formed."""
    cluster.needs("test_the_cluster_forms_listening_on_https")
    settings = cluster.add_client(CLIENT)
    states = cluster.apply(CLIENT, "lxd.client")
    assert failures(states) == {}
    assert stat.S_IMODE(os.stat(settings["key"]).st_mode) == 0o600
    key = Path(settings["key"]).read_text()
    mine = cluster.salt.run("mine.get", CLIENT, "lxd_client", minion_tgt="lxd-t1")
    published = mine.data[CLIENT]
    assert published == {"cluster": "ci", "certificate": Path(settings["cert"]).read_text()}
    assert "PRIVATE KEY" not in str(mine.data) and key.splitlines()[1] not in str(mine.data)
    assert changed(cluster.apply(CLIENT, "lxd.client")) == {}


def test_one_member_trusts_the_client_for_the_whole_cluster(cluster):
    """Needs the cluster the first test formed, in the state the previous test left."""
    cluster.needs("test_the_cluster_forms_listening_on_https",
                  "test_a_client_minion_publishes_its_certificate_and_keeps_its_key")
    results = {name: cluster.apply(name) for name in HOSTS}
    for name in HOSTS:
        assert failures(results[name]) == {}, name
    acting = [name for name in HOSTS if results[name]["lxd-trusted-clients"]["changes"]]
    assert acting == ["lxd-t1"]
    assert "kept by member lxd-t1" in results["lxd-t2"]["lxd-trusted-clients"]["comment"]
    cert = cluster.trusted()[f"salt-minion:{CLIENT}"]
    assert cert["restricted"] is True and cert["projects"] == ["default"]
    for name in HOSTS:
        assert changed(cluster.apply(name)) == {}, name


def test_what_a_minion_publishes_about_itself_grants_nothing(cluster, tmp_path):
    """Needs the cluster the first test formed, in the state the previous test left."""
    cluster.needs("test_the_cluster_forms_listening_on_https",
                  "test_one_member_trusts_the_client_for_the_whole_cluster")
    client_pem = cluster.salt.run("mine.get", CLIENT, "lxd_client",
                                  minion_tgt="lxd-t1").data[CLIENT]["certificate"]
    # the client asks for every project; a cluster host asks to be a client
    cluster.forge(CLIENT, "lxd_client", cluster="ci", certificate=client_pem,
                  projects=None, type="client")
    forger_pem = self_signed(tmp_path)
    cluster.forge("lxd-t2", "lxd_client", cluster="ci", certificate=forger_pem,
                  projects=None, type="client")
    # another minion poses as a host of the cluster, for clients to connect to
    cluster.add_client(FORGER)
    cluster.forge(FORGER, "lxd_server", cluster="ci", mode="cluster", certificate=forger_pem,
                  addresses=["127.0.0.99:8443"], metrics_addresses=[])
    assert changed(cluster.apply("lxd-t1")) == {}
    trusted = cluster.trusted()
    assert "salt-minion:lxd-t2" not in trusted
    cert = trusted[f"salt-minion:{CLIENT}"]
    assert cert["restricted"] is True and cert["projects"] == ["default"]


def test_the_client_connects_with_what_the_mine_tells_it(cluster, tmp_path):
    """Needs the cluster the first test formed, in the state the previous test left."""
    cluster.needs("test_the_cluster_forms_listening_on_https",
                  "test_what_a_minion_publishes_about_itself_grants_nothing")
    cluster.daemons["lxd-t1"].lxc("project", "create", "other")
    servers = cluster.salt.run("lxd_trust.servers", minion_tgt=CLIENT).data
    assert sorted(servers) == list(HOSTS)  # not the forger's
    facts = servers["lxd-t2"]
    assert facts["addresses"] == [f"{cluster.daemons['lxd-t2'].address}:8443"]
    assert facts["metrics_addresses"] == [f"{cluster.daemons['lxd-t2'].address}:9100"]
    server_cert = tmp_path / "server.crt"
    server_cert.write_text(facts["certificate"])
    settings = cluster.pillars[CLIENT]["client"]
    endpoint = f"https://{facts['addresses'][0]}"
    cert = (settings["cert"], settings["key"])
    session = pylxd.client.get_session_for_url(endpoint, cert=cert, verify=str(server_cert))
    session.trust_env = False  # the pinned cluster certificate, not $REQUESTS_CA_BUNDLE
    client = pylxd.Client(endpoint=endpoint, cert=cert, verify=str(server_cert),
                          session=session)
    assert client.trusted
    assert [project.name for project in client.projects.all()] == ["default"]
    assert client.api.instances.get(params={"project": "default"}).status_code == 200
    with pytest.raises(pylxd.exceptions.LXDAPIException):
        client.api.instances.get(params={"project": "other"})


def test_deleting_the_client_key_revokes_it(cluster):
    """Needs the cluster the first test formed, in the state the previous test left."""
    cluster.needs("test_the_cluster_forms_listening_on_https",
                  "test_the_client_connects_with_what_the_mine_tells_it")
    deleted = cluster.master.salt_key_cli().run("-d", CLIENT, "-y")
    assert deleted.returncode == 0, deleted
    # the reactor works asynchronously
    wait_until(lambda: f"salt-minion:{CLIENT}" not in cluster.trusted(), 120,
               f"the reactor to revoke {CLIENT}", interval=1)
    # the forger's entry made no host of it: only the cluster was asked
    revoked = cluster.run.run("lxd_trust.revoke", CLIENT)
    assert revoked.returncode == 0, revoked
    assert revoked.data["revoked"] == {"ci": "was not trusted"}, revoked
    cluster.minions.pop(CLIENT).terminate()


def test_a_revocation_no_host_could_make_exits_non_zero(cluster):
    """Needs the cluster the first test formed, in the state the previous test left."""
    cluster.needs("test_the_cluster_forms_listening_on_https", "test_deleting_the_client_key_revokes_it")
    for host in HOSTS:
        cluster.minions[host].terminate()
    revoked = cluster.run.run("lxd_trust.revoke", CLIENT)
    assert revoked.returncode == 1 and revoked.data["result"] is False, revoked
    assert revoked.data["revoked"]["ci"].startswith("no host answered"), revoked
