"""A worker's side of connection dealing (picker.workers.connection_dealer): the connections its supervisor
accepted on the picker's ext_proc port arrive as descriptors on an inherited Unix socket, one per byte
(SCM_RIGHTS), and are served by the worker's own ext_proc server as if it had accepted them."""

from __future__ import annotations

import asyncio
import logging
import socket

from picker.server.grpc_server import GrpcServer

logger = logging.getLogger(__name__)


async def serve_dealt_connections(channel: socket.socket, server: GrpcServer) -> None:
    """Until cancelled, or until the supervisor closes the channel (it is gone: the worker's SIGTERM, or
    the kernel's parent-death signal, ends the process)."""
    loop = asyncio.get_running_loop()
    channel.setblocking(False)
    readable = asyncio.Event()
    loop.add_reader(channel.fileno(), readable.set)
    serving: set[asyncio.Task[None]] = set()
    try:
        while True:
            await readable.wait()
            readable.clear()
            while True:
                try:
                    data, descriptors, _, _ = socket.recv_fds(channel, 1, 1)
                except BlockingIOError:
                    break
                if not data:
                    logger.warning("the supervisor closed the connection channel; no new connections")
                    return
                for descriptor in descriptors:
                    connection = socket.socket(fileno=descriptor)
                    connection.setblocking(False)
                    task = asyncio.create_task(server.serve_accepted(connection))
                    serving.add(task)
                    task.add_done_callback(serving.discard)
    finally:
        loop.remove_reader(channel.fileno())
        for task in serving:
            task.cancel()
