"""A cluster of test hosts on this machine: Linux network namespaces joined through a bridge.

Each host is a network namespace with its own interfaces and address in
198.18.0.0/15 (RFC 2544's range for test networks, never routed), linked by
a veth pair to a bridge that has no address and no other port: traffic stays
between the hosts. A host's link can be cut (its bridge port goes down, so
its packets are dropped and its processes live on: a partition, not a kill)
and restored. Delay and loss (`tc netem`) are not offered: the kernel of
this project's machines has no netem qdisc.

Each host also has its own host name (a UTS namespace per command), and
its own `/etc/hosts` (`ip netns exec` mounts `/etc/netns/NAME/hosts` over
it), so a name can resolve on one host and not on another.

Making namespaces needs root (CAP_NET_ADMIN). Where it cannot be done the
tests skip, saying why, except under `CI=true`, where they fail: CI runs as
root and these tests must run there.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from typing import Dict, List, Optional, Sequence

import pytest

SUBNET = "198.18.0"
PREFIX = "krt"  # every name this module makes starts with it, and the owner's pid follows
NETNS_ETC = "/etc/netns"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and out.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {out.stderr.strip()}")
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale() -> None:
    """Remove namespaces, links and hosts files left by test processes that no longer run (a killed run)."""
    names = _ip("netns", "list", check=False).stdout.split()
    links = _ip("-o", "link", "show", check=False).stdout.splitlines()
    links = [line.split(":")[1].strip().split("@")[0] for line in links if ":" in line]
    etc = os.listdir(NETNS_ETC) if os.path.isdir(NETNS_ETC) else []
    for name in set(names) | set(links) | set(etc):
        if not name.startswith(PREFIX):
            continue
        pid = name[len(PREFIX):].split("h")[0].split("b")[0]
        if pid.isdigit() and not _alive(int(pid)):
            _ip("netns", "delete", name, check=False)
            _ip("link", "delete", name, check=False)
            shutil.rmtree(os.path.join(NETNS_ETC, name), ignore_errors=True)


def unavailable() -> Optional[str]:
    """Why network namespaces cannot be made here, or None when they can."""
    if sys.platform != "linux":
        return f"network namespaces need Linux (this is {sys.platform})"
    for command, package in (("ip", "iproute2"), ("unshare", "util-linux")):
        if shutil.which(command) is None:
            return f"the `{command}` command ({package}) is not installed"
    if os.geteuid() != 0:
        return "making network namespaces needs root"
    probe = f"{PREFIX}{os.getpid()}probe"
    made = _ip("netns", "add", probe, check=False)
    _ip("netns", "delete", probe, check=False)
    if made.returncode != 0:
        return f"`ip netns add` failed: {made.stderr.strip()}"
    return None


def require() -> None:
    """Skip the calling test where namespaces cannot be made; under CI=true, fail instead."""
    why = unavailable()
    if why is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"the multi-host tests must run in CI, and cannot: {why}")
    pytest.skip(why)


class Host:
    """One host of a `Cluster`: its namespace, address and bridge port."""

    def __init__(self, cluster: "Cluster", index: int, name: str):
        self.cluster, self.index, self.name = cluster, index, name
        self.namespace = f"{cluster.prefix}h{index}"
        self.port = f"{cluster.prefix}h{index}p"  # the veth end on the bridge
        self.address = f"{SUBNET}.{index + 1}"

    def command(self, argv: Sequence[str]) -> List[str]:
        """`argv` run on this host, under its host name."""
        return ["ip", "netns", "exec", self.namespace, "unshare", "--uts", "--", "sh", "-c",
                'hostname "$0" && exec "$@"', self.name, *argv]

    def popen(self, argv: Sequence[str], **kwargs) -> subprocess.Popen:
        """Start `argv` on this host; the cluster kills it when it is removed."""
        kwargs.setdefault("start_new_session", True)
        proc = subprocess.Popen(self.command(argv), **kwargs)
        self.cluster.processes.append(proc)
        return proc

    def run(self, argv: Sequence[str], timeout: float = 60, **kwargs) -> subprocess.CompletedProcess:
        """Run `argv` on this host to its end."""
        return subprocess.run(self.command(argv), capture_output=True, text=True, timeout=timeout, **kwargs)

    def cut(self) -> None:
        """Drop every packet to and from this host; its processes keep running."""
        _ip("link", "set", self.port, "down")

    def restore(self) -> None:
        """Undo `cut`."""
        _ip("link", "set", self.port, "up")

    def reaches(self, other: "Host", port: int = 9, timeout_s: float = 1.0) -> bool:
        """Whether a TCP connection from this host reaches `other` within `timeout_s` (refused counts: it answered)."""
        probe = ("import socket, sys\n"
                 "try:\n"
                 f"    socket.create_connection(({other.address!r}, {port}), timeout={timeout_s})\n"
                 "except ConnectionRefusedError:\n"
                 "    pass\n"
                 "except OSError:\n"
                 "    sys.exit(1)\n")
        return self.run([sys.executable, "-c", probe]).returncode == 0

    def __repr__(self) -> str:
        return f"Host({self.name}, {self.address})"


class Cluster:
    """N hosts on one bridge, removed with everything started on them when the `with` block ends.

    Args:
        names: a host name for each host; every host's /etc/hosts names them all, except where `resolves`
            says otherwise.
        resolves: for a host's name, the names its /etc/hosts holds (default: all).
    """

    def __init__(self, names: Sequence[str], resolves: Optional[Dict[str, Sequence[str]]] = None):
        self.prefix = f"{PREFIX}{os.getpid()}"
        self.hosts = [Host(self, i, name) for i, name in enumerate(names)]
        self.bridge = f"{self.prefix}b"
        self.resolves = dict(resolves or {})
        self.processes: List[subprocess.Popen] = []

    def __getitem__(self, name: str) -> Host:
        return next(h for h in self.hosts if h.name == name)

    def __enter__(self) -> "Cluster":
        remove_stale()
        try:
            self._make()
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.remove()

    def _make(self) -> None:
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("link", "set", self.bridge, "up")
        for host in self.hosts:
            _ip("netns", "add", host.namespace)
            _ip("link", "add", host.port, "type", "veth", "peer", "name", "eth0", "netns", host.namespace)
            _ip("link", "set", host.port, "master", self.bridge)
            _ip("link", "set", host.port, "up")
            inside = ("netns", "exec", host.namespace, "ip")
            _ip(*inside, "addr", "add", f"{host.address}/24", "dev", "eth0")
            _ip(*inside, "link", "set", "eth0", "up")
            _ip(*inside, "link", "set", "lo", "up")
            known = self.resolves.get(host.name, [h.name for h in self.hosts])
            lines = ["127.0.0.1 localhost"] + [f"{h.address} {h.name}" for h in self.hosts if h.name in known]
            os.makedirs(os.path.join(NETNS_ETC, host.namespace), exist_ok=True)
            with open(os.path.join(NETNS_ETC, host.namespace, "hosts"), "w") as f:
                f.write("\n".join(lines) + "\n")

    def remove(self) -> None:
        """Kill what runs on the hosts, then delete the namespaces, links and hosts files."""
        for proc in self.processes:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=30)
        for host in self.hosts:
            _ip("netns", "delete", host.namespace, check=False)
            _ip("link", "delete", host.port, check=False)
            shutil.rmtree(os.path.join(NETNS_ETC, host.namespace), ignore_errors=True)
        _ip("link", "delete", self.bridge, check=False)
