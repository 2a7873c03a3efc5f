"""The few changes a planned container's command line needs to run on this machine, in one place:
a flag's value replaced (ports: every process shares 127.0.0.1, so each gets a free port instead of its
planned one) and paths of mounted volumes moved into the gateway's work folder."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml
from picker.placements.peer_flags import PLACEMENT_FLAGS
from picker.plugins.kv_event_prefix_index import KV_EVENT_PLUGIN_TYPES
from sim.kv_events.config import KVEventsConfig

from infgw.launch.command_line import with_flag, without_flags


def materialise_mounts(
    args: Sequence[str], files: Mapping[str, str], secret_dirs: Sequence[str], root: Path
) -> list[str]:
    """Write every mounted file under `root` (at its container path) and point `args` at the copies.

    ConfigMap files get their planned content; a file under a Secret mount (a token the cluster issues,
    e.g. the metrics reader's) gets a fresh random token, since the manifests never carry secret values.
    """
    moved: dict[str, str] = {}
    for path, text in files.items():
        local = root / path.lstrip("/")
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_text(text, encoding="utf-8")
        moved[path] = str(local)
    for arg in args:
        value = arg.split("=", 1)[1] if arg.startswith("--") and "=" in arg else arg
        if any(value.startswith(directory + "/") for directory in secret_dirs) and value not in moved:
            local = root / value.lstrip("/")
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_text(secrets.token_urlsafe(32), encoding="utf-8")
            moved[value] = str(local)
    result = []
    for arg in args:
        if arg in moved:
            result.append(moved[arg])
        elif arg.startswith("--") and "=" in arg and arg.split("=", 1)[1] in moved:
            flag, value = arg.split("=", 1)
            result.append(f"{flag}={moved[value]}")
        else:
            result.append(arg)
    return result


def override_planned_flags(args: Sequence[str], settings: Mapping[str, object]) -> tuple[list[str], dict[str, object]]:
    """`--sim-set` settings that name a flag the planned command line sets (``max_num_seqs`` for
    ``--max-num-seqs``) replace that flag's value, since the command line wins over a config file; the
    others are returned for the simulator's config file."""
    result = list(args)
    remaining: dict[str, object] = {}
    for key, value in settings.items():
        flag = "--" + key.replace("_", "-")
        planned = any(arg == flag or arg.startswith(flag + "=") for arg in result)
        if planned and isinstance(value, str | int | float) and not isinstance(value, bool):
            result = with_flag(result, flag, str(value))
        else:
            remaining[key] = value
    return result, remaining


KV_EVENTS_FLAG = "--kv-events-config"


def with_kv_event_ports(args: Sequence[str], socket_port: int, replay_port: int | None) -> list[str]:
    """vLLM's `--kv-events-config` with its publisher (and replay) moved to the given ports."""
    from infgw.plan.pool_wiring import flag_value

    text = flag_value(args, KV_EVENTS_FLAG)
    if text is None:
        return list(args)
    config = json.loads(text)
    endpoint = config.get("endpoint", KVEventsConfig.model_fields["endpoint"].default)
    config["endpoint"] = _with_port(str(endpoint), socket_port)
    if replay_port is not None and config.get("replay_endpoint"):
        config["replay_endpoint"] = _with_port(str(config["replay_endpoint"]), replay_port)
    return with_flag(args, KV_EVENTS_FLAG, json.dumps(config, separators=(",", ":")))


def _with_port(endpoint: str, port: int) -> str:
    return f"{endpoint.rsplit(':', 1)[0]}:{port}"


def with_discovery_ports(config_text: str, socket_base: int, replay_base: int | None) -> str:
    """The picker's EndpointPickerConfig with its KV-event plugin (precise producer or scorer) dialing `socket_base + rank` (and
    `replay_base + rank`): one machine's replicas cannot all publish on the planned port. A tokenizer the
    stack has it download by model name is dropped: the local simulators tokenize with their own
    approximate tokenizer, which is the picker's without one (and nothing is downloaded)."""
    document = yaml.safe_load(config_text)
    for plugin in document.get("plugins") or []:
        if plugin.get("type") not in KV_EVENT_PLUGIN_TYPES:
            continue
        tokenizer = plugin.setdefault("parameters", {}).get("tokenizer") or {}
        if "modelName" in tokenizer:
            kept = {k: v for k, v in tokenizer.items() if k not in ("modelName", "revision", "cacheDir")}
            plugin["parameters"]["tokenizer"] = kept
        events = plugin["parameters"].setdefault("kvEventsConfig", {})
        discovery = events.setdefault("podDiscoveryConfig", {})
        discovery["socketPort"] = socket_base
        if replay_base is not None:
            discovery["replaySocketPort"] = replay_base
    return yaml.safe_dump(document, sort_keys=False)


def with_placement_flags(args: Sequence[str], flags: Sequence[str]) -> list[str]:
    """`args` sharing placements as `flags` say (``picker.placements.peer_flags``) instead of as planned: one
    machine's replicas cannot all receive on the planned port, nor resolve the cluster's Service name."""
    return [*without_flags(args, PLACEMENT_FLAGS), *flags]
