"""Ports for the servers and clusters that tests start on 127.0.0.1."""

import socket


def free_ports(count: int) -> list[int]:
    """Ports free on 127.0.0.1 now: bound to port 0 together, so that they differ."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()
