"""tests/hosts.py, the multi-host tests' cluster: hosts that reach each other, cuts that partition, and cleanup."""

import os
import subprocess
import sys

import pytest

import hosts
from helpers import wait_for


@pytest.fixture(autouse=True)
def namespaces():
    hosts.require()


def test_hosts_reach_each_other_by_name_and_a_cut_host_is_partitioned_while_its_processes_live(tmp_path):
    with hosts.Cluster(["machine-a", "machine-b", "machine-c"],
                       resolves={"machine-c": ["machine-c"]}) as cluster:
        a, b, c = cluster.hosts
        assert a.reaches(b) and b.reaches(a) and c.reaches(a)
        assert a.run(["hostname"]).stdout.strip() == "machine-a"
        resolve = [sys.executable, "-c", "import socket; print(socket.gethostbyname('machine-a'))"]
        assert b.run(resolve).stdout.strip() == a.address
        assert c.run(resolve).returncode != 0  # c's /etc/hosts names only itself
        # Traffic stays between the hosts: no route out, and the machine's own loopback is not theirs.
        outside = [sys.executable, "-c", "import socket; socket.create_connection(('10.255.255.1', 80), timeout=1)"]
        assert "Network is unreachable" in a.run(outside).stderr
        sleeper = b.popen(["sleep", "60"])
        b.cut()
        assert not a.reaches(b) and not b.reaches(c) and a.reaches(c)
        assert sleeper.poll() is None  # a partition, not a kill
        b.restore()
        assert wait_for(lambda: a.reaches(b), 10, "the restored link")
        names = (cluster.bridge, *[h.namespace for h in cluster.hosts])
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "link", "show"], capture_output=True, text=True).stdout
    assert not any(name in listing or name in links for name in names)
    assert sleeper.poll() is not None
    assert not any(os.path.exists(os.path.join(hosts.NETNS_ETC, h.namespace)) for h in cluster.hosts)


def test_a_cluster_is_removed_when_the_test_fails_inside_it():
    with pytest.raises(RuntimeError, match="inside"):
        with hosts.Cluster(["machine-a"]) as cluster:
            raise RuntimeError("inside")
    assert cluster.hosts[0].namespace not in subprocess.run(["ip", "netns", "list"], capture_output=True,
                                                             text=True).stdout
