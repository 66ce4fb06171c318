"""Network addresses given on the command line: HOST:PORT parsed, and checked to resolve on this machine.

TensorFlow-free: the search's chief and workers and the multi-worker training
check their addresses before any wait, so a name this machine cannot resolve
stops the run at once, in one line, rather than after a timeout.
"""

from __future__ import annotations

import socket
from typing import Optional

__all__ = ["WILDCARDS", "parse_address", "unresolved"]

WILDCARDS = ("0.0.0.0", "::", "[::]", "")  # hosts that bind every interface of this machine


def parse_address(text: str, flag: str = "oracle") -> tuple:
    """(host, port) of "HOST:PORT".

    Raises:
        ValueError: not HOST:PORT with a port in 1..65535.
    """
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--{flag} takes HOST:PORT with a port in 1..65535. Received: {flag}={text!r}")
    return host, int(port)


def unresolved(host: str) -> Optional[str]:
    """Why `host` does not resolve on this machine (the resolver's words), or None when it does."""
    if host in WILDCARDS:
        return None
    try:
        socket.getaddrinfo(host.strip("[]"), None)
    except (socket.gaierror, UnicodeError) as error:
        return str(getattr(error, "strerror", None) or error)
    return None
