"""Port allocation on the loopback interface: OS-chosen free ports, and a clear error for a busy one."""

from __future__ import annotations

import contextlib
import errno
import random
import socket
from collections.abc import Awaitable, Callable

from infgw.launch.child_process import ChildExitedError


class PortBusyError(RuntimeError):
    """A port the user asked for is already in use."""

    def __init__(self, host: str, port: int, reason: str) -> None:
        self.host = host
        self.port = port
        super().__init__(
            f"port {port} on {host} is not available ({reason}); stop what listens there "
            f"(`ss -ltnp 'sport = :{port}'` shows it) or choose another with --port, or omit --port for a free one"
        )


def free_port(host: str = "127.0.0.1", kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    """A port the OS reports free right now (for children that cannot announce their own); ``kind``
    SOCK_DGRAM: a UDP port."""
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def free_ports(count: int, host: str = "127.0.0.1", kind: socket.SocketKind = socket.SOCK_STREAM) -> list[int]:
    """``count`` distinct ports the OS reports free right now (all held at once while chosen, so none repeats)."""
    with contextlib.ExitStack() as stack:
        probes = [stack.enter_context(socket.socket(socket.AF_INET, kind)) for _ in range(count)]
        for probe in probes:
            probe.bind((host, 0))
        return [int(probe.getsockname()[1]) for probe in probes]


def ensure_port_free(host: str, port: int) -> None:
    """Raise PortBusyError unless ``host:port`` can be bound (as Envoy will bind it: SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            reason = "already in use" if error.errno == errno.EADDRINUSE else (error.strerror or str(error))
            raise PortBusyError(host, port, reason) from None


def free_port_block(count: int, host: str = "", attempts: int = 50) -> int:
    """The first of `count` consecutive ports that are all free right now (for a publisher per replica at
    base + rank, the way vLLM offsets data-parallel ranks). By default free on every interface: vLLM's
    KV-event publishers bind ``tcp://*:<port>``.

    Searched below the kernel's ephemeral range first: inside it, outgoing connections take every other
    port (Linux gives connect() and bind(0) opposite parities), so on a box whose clients left thousands of
    ports in TIME_WAIT a run of 8 next to a bind(0) port was found in under 3% of tries."""
    low, _ = ephemeral_port_range()
    below = random.Random()
    for _ in range(attempts):
        start = max(1024, low - 16384)
        base = below.randrange(start, low - count) if low - count > start else free_port(host)
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
    raise RuntimeError(
        f"no {count} consecutive free ports on {host or 'any interface'} after {attempts} tries"
    )


def ephemeral_port_range() -> tuple[int, int]:
    """The kernel's range for outgoing connections' ports (Linux's ``ip_local_port_range``; IANA's
    49152-65535 where it cannot be read)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as source:
            low, high = (int(value) for value in source.read().split())
    except (OSError, ValueError):
        return 49152, 65535
    return low, high


# Fresh starts allowed when a child lost the race for a port chosen free a moment earlier.
PORT_RACE_ATTEMPTS = 3


async def start_retrying_port_races(
    start_once: Callable[[], Awaitable[None]], reset: Callable[[], Awaitable[None]]
) -> None:
    """`start_once`, again after `reset` (which stops what started) when a child failed with "address already
    in use": ports are chosen free just before the children bind them, a second or two later, and another
    process can take one in between (a busy CI box showed it). Any other failure is raised at once."""
    for attempt in range(1, PORT_RACE_ATTEMPTS + 1):
        try:
            await start_once()
            return
        except ChildExitedError as error:
            if attempt == PORT_RACE_ATTEMPTS or "address already in use" not in error.log_tail.lower():
                raise
        await reset()
