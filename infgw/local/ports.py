"""Port allocation on the loopback interface: OS-chosen free ports, and a clear error for a busy one."""

from __future__ import annotations

import errno
import socket


class PortBusyError(RuntimeError):
    """A port the user asked for is already in use."""

    def __init__(self, host: str, port: int, reason: str) -> None:
        self.host = host
        self.port = port
        super().__init__(
            f"port {port} on {host} is not available ({reason}); stop what listens there "
            f"(`ss -ltnp 'sport = :{port}'` shows it) or choose another with --port, or omit --port for a free one"
        )


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS reports free right now (for children that cannot announce their own)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def ensure_port_free(host: str, port: int) -> None:
    """Raise PortBusyError unless ``host:port`` can be bound (as Envoy will bind it: SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            reason = "already in use" if error.errno == errno.EADDRINUSE else (error.strerror or str(error))
            raise PortBusyError(host, port, reason) from None


def free_port_block(count: int, host: str = "127.0.0.1", attempts: int = 50) -> int:
    """The first of `count` consecutive ports that are all free right now (for a publisher per replica at
    base + rank, the way vLLM offsets data-parallel ranks)."""
    for _ in range(attempts):
        base = free_port(host)
        if base + count > 65_535:
            continue
        probes: list[socket.socket] = []
        try:
            for port in range(base, base + count):
                probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                probes.append(probe)
                probe.bind((host, port))
            return base
        except OSError:
            continue
        finally:
            for probe in probes:
                probe.close()
    raise RuntimeError(f"no {count} consecutive free ports on {host} after {attempts} tries")
