"""What workers cannot share is refused before any worker starts: the flag, and a KV-event socket that
only one process can bind."""

from __future__ import annotations

import socket

import pytest
import yaml
from picker.cli import OptionsError, parse_options
from picker.config.errors import ConfigError
from picker.profiles import profile_text
from picker.server.grpc_server import PortBindError
from picker.workers.supervisor import check_worker_config, listen_on_port


def test_workers_flag_takes_a_count_or_auto_and_refuses_the_rest() -> None:
    base = ["--pool-name", "p"]
    assert parse_options(base).workers == 1
    assert parse_options([*base, "--workers", "4"]).workers == 4
    assert parse_options([*base, "--workers=auto"]).workers == "auto"
    with pytest.raises(OptionsError, match="'many' is not a worker count; use a number or auto"):
        parse_options([*base, "--workers", "many"])
    with pytest.raises(OptionsError, match="--workers 0: use 1 to 64"):
        parse_options([*base, "--workers", "0"])


def test_a_bound_kv_event_socket_cannot_be_shared_by_workers() -> None:
    profile = yaml.safe_load(profile_text("precise"))
    events = profile["plugins"][0]["parameters"]["kvEventsConfig"]
    events["zmqEndpoint"] = "tcp://*:5557"
    options = parse_options(["--pool-name", "p", "--config-text", yaml.safe_dump(profile)])
    with pytest.raises(ConfigError, match=r"zmqEndpoint.*cannot be bound by 2 worker processes"):
        check_worker_config(options, 2)
    check_worker_config(parse_options(["--pool-name", "p", "--config-text", profile_text("precise")]), 2)


def test_the_supervisor_refuses_a_port_another_program_listens_on() -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        with pytest.raises(PortBindError, match="--grpc-port"):
            listen_on_port("127.0.0.1", other.getsockname()[1])
    listening = listen_on_port("127.0.0.1", 0)
    try:
        assert listening.getsockname()[1] > 0
    finally:
        listening.close()


def test_placement_peers_with_workers_are_refused_until_supported() -> None:
    options = parse_options(
        ["--pool-name", "p", "--placement-port", "9004", "--placement-peers", "peers.ns.svc:9004"]
    )
    with pytest.raises(ConfigError, match=r"--placement-port.*not supported with --workers 2"):
        check_worker_config(options, 2)
