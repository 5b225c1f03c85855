"""Hosts on one machine: Linux network namespaces on a bridge (needs root).

Every namespace is named `chc-<run>-<pid>-<host>` (`<pid>` the test process that made it, so a later
run removes only the leftovers of runs that are gone); the bridge lives in a namespace of its own
and each host has one veth pair, its end `<run>h<i>` in the host (where its addresses are), the
other `<run>b<i>` on the bridge. Private 10.x addresses exist only inside these namespaces; the root
namespace gets none and cannot reach them.

Faults: `cut(host)` takes the host's link down (it keeps running, unable to reach anyone), `heal`
brings it up; `block(host, address)` is a blackhole route in the host's namespace: cut off from one
address only.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
from dataclasses import dataclass, field

from tests.waiting import holds_within

PREFIX = "chc-"
SUBNET = "10.213.0"


class NamespacesUnavailable(RuntimeError):
    """Network namespaces cannot be made here (not root, or no `ip netns`)."""


def ip(*args: str, ns: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    argv = ["ip", "netns", "exec", ns, "ip", *args] if ns else ["ip", *args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip()}")
    return done


def namespace_pids(ns: str) -> list[int]:
    done = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, timeout=20)
    return [int(pid) for pid in done.stdout.split()]


def kill_namespace(ns: str) -> None:
    """SIGKILL every process left in the namespace (the ones a test started there), then delete it."""

    def emptied() -> bool:
        pids = namespace_pids(ns)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return not pids

    holds_within(emptied, 2.0)  # then deleted, emptied or not: a cleanup does not fail on a process that will not die
    ip("netns", "delete", ns, check=False)


def remove_leftovers() -> list[str]:
    """Delete the namespaces of earlier runs whose test process is gone (a run killed before its
    finalizers ran); returns their names."""
    done = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=20)
    removed = []
    for line in done.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        parts = name.split("-")
        if not name.startswith(PREFIX) or len(parts) < 4 or not parts[2].isdigit():
            continue
        owner = int(parts[2])
        if owner != os.getpid() and _alive(owner):
            continue
        kill_namespace(name)
        removed.append(name)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Host:
    name: str
    ns: str
    veth: str  # its end, in its namespace
    port: str  # the bridge's end, in the bridge's namespace
    addresses: list[str] = field(default_factory=list)

    @property
    def address(self) -> str:
        return self.addresses[0]


class Network:
    """A bridge and hosts on it; `close()` removes every namespace (with the processes in it)."""

    def __init__(self) -> None:
        if os.geteuid() != 0:
            raise NamespacesUnavailable("network namespaces need root (CI runs the cluster suite as root)")
        self.run = secrets.token_hex(2)
        self.hosts: dict[str, Host] = {}
        self.namespaces: list[str] = []
        self.bridge = f"chc{self.run}br"
        try:
            self.bridge_ns = self._namespace("bridge")
            ip("link", "add", self.bridge, "type", "bridge", ns=self.bridge_ns)
            ip("link", "set", self.bridge, "up", ns=self.bridge_ns)
        except BaseException:
            self.close()
            raise

    def _namespace(self, host: str) -> str:
        ns = f"{PREFIX}{self.run}-{os.getpid()}-{host}"
        done = ip("netns", "add", ns, check=False)
        if done.returncode != 0:
            raise NamespacesUnavailable(f"`ip netns add` failed: {done.stderr.strip()}")
        self.namespaces.append(ns)
        ip("link", "set", "lo", "up", ns=ns)
        return ns

    def add_host(self, name: str, *octets: int) -> Host:
        """A host with one address per octet (10.213.0.<octet>/24)."""
        index = len(self.hosts)
        ns = self._namespace(name)
        host = Host(name, ns, f"chc{self.run}h{index}", f"chc{self.run}b{index}")
        ip("link", "add", host.veth, "netns", ns, "type", "veth", "peer", "name", host.port, "netns", self.bridge_ns)
        ip("link", "set", host.port, "master", self.bridge, "up", ns=self.bridge_ns)
        for octet in octets:
            host.addresses.append(f"{SUBNET}.{octet}")
            ip("addr", "add", f"{SUBNET}.{octet}/24", "dev", host.veth, ns=ns)
        ip("link", "set", host.veth, "up", ns=ns)
        self.hosts[name] = host
        return host

    def cut(self, name: str) -> None:
        """The host's link down: it runs on, every connection of it silent or refused."""
        host = self.hosts[name]
        ip("link", "set", host.veth, "down", ns=host.ns)

    def heal(self, name: str) -> None:
        host = self.hosts[name]
        ip("link", "set", host.veth, "up", ns=host.ns)

    def block(self, name: str, address: str) -> None:
        """The host cut off from one address only (a blackhole route in its namespace)."""
        ip("route", "add", "blackhole", f"{address}/32", ns=self.hosts[name].ns)

    def unblock(self, name: str, address: str) -> None:
        ip("route", "del", "blackhole", f"{address}/32", ns=self.hosts[name].ns)

    def exec_argv(self, name: str, argv: list[str]) -> list[str]:
        """`argv` run on host `name`."""
        return ["ip", "netns", "exec", self.hosts[name].ns, *argv]

    def close(self) -> None:
        """Every namespace deleted, hosts first (their veth pairs go with them), the bridge last."""
        for ns in reversed(self.namespaces):
            kill_namespace(ns)
        self.namespaces.clear()
