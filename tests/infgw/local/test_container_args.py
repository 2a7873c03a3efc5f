"""The local changes to a planned command line: one flag's value, mounted files, --sim-set overrides."""

from __future__ import annotations

from pathlib import Path

from infgw.launch.command_line import without_flags
from infgw.local.container_args import (
    materialise_mounts,
    override_planned_flags,
    with_flag,
    with_placement_flags,
)


def test_with_flag_replaces_both_forms_and_appends_when_absent() -> None:
    assert with_flag(["--port", "8000", "--model", "m"], "--port", "1234") == ["--port", "1234", "--model", "m"]
    assert with_flag(["--port=8000"], "--port", "1234") == ["--port=1234"]
    assert with_flag(["--model", "m"], "--port", "1234") == ["--model", "m", "--port", "1234"]


def test_without_flags_drops_both_forms_and_their_values() -> None:
    args = ["--a", "1", "--placement-port=9004", "--b", "--placement-peers", "x:9004", "--c", "3"]
    assert without_flags(args, ("--placement-port", "--placement-peers")) == ["--a", "1", "--b", "--c", "3"]


def test_planned_placement_sharing_is_replaced_by_the_local_flags() -> None:
    planned = ["--v", "1", "--placement-port", "9004", "--placement-peers", "p-epp-peers.ns.svc.cluster.local:9004"]
    local = ["--placement-port", "40001", "--placement-peers", "127.0.0.1:40002"]
    assert with_placement_flags(planned, local) == ["--v", "1", *local]
    assert with_placement_flags(planned, ["--placement-port", "40001"]) == ["--v", "1", "--placement-port", "40001"]


def test_mounted_files_move_into_the_work_folder_and_secrets_get_a_token(tmp_path: Path) -> None:
    args = ["--config-file", "/config/config.yaml", "--metrics-auth-token-file=/var/run/secrets/r/token", "--v", "1"]
    moved = materialise_mounts(args, {"/config/config.yaml": "kind: X\n"}, ("/var/run/secrets/r",), tmp_path)
    assert moved[1] == str(tmp_path / "config" / "config.yaml")
    assert (tmp_path / "config" / "config.yaml").read_text() == "kind: X\n"
    flag, token_path = moved[2].split("=", 1)
    assert flag == "--metrics-auth-token-file" and len(Path(token_path).read_text()) >= 32
    assert moved[3:] == ["--v", "1"]


def test_sim_settings_naming_a_planned_flag_replace_it_the_rest_go_to_the_config() -> None:
    args, rest = override_planned_flags(
        ["--model", "m", "--max-num-seqs", "1024"], {"max_num_seqs": 1, "profile": "zero-latency", "seed": 3}
    )
    assert args == ["--model", "m", "--max-num-seqs", "1"]
    assert rest == {"profile": "zero-latency", "seed": 3}


def test_a_hub_tokenizer_is_dropped_locally_where_the_simulators_tokenize_approximately() -> None:
    import yaml
    from picker.profiles import profile_text

    from infgw.local.container_args import with_discovery_ports

    document = yaml.safe_load(profile_text("precise"))
    [scorer] = [p for p in document["plugins"] if p["type"] == "precise-prefix-cache-scorer"]
    scorer["parameters"]["tokenizer"] = {"modelName": "org/model", "cacheDir": "scratch/tokenizers"}
    local = yaml.safe_load(with_discovery_ports(yaml.safe_dump(document), 7000, 7100))
    [scorer] = [p for p in local["plugins"] if p["type"] == "precise-prefix-cache-scorer"]
    assert scorer["parameters"]["tokenizer"] == {}
    assert scorer["parameters"]["kvEventsConfig"]["podDiscoveryConfig"] == {
        "socketPort": 7000, "replaySocketPort": 7100}


def test_the_v0_10_producer_dials_the_local_ports_too() -> None:
    import yaml

    from infgw.local.container_args import with_discovery_ports

    text = yaml.safe_dump({"plugins": [
        {"type": "precise-prefix-cache-producer",
         "parameters": {"kvEventsConfig": {"podDiscoveryConfig": {"socketPort": 5557}}}},
        {"type": "prefix-cache-scorer",
         "parameters": {"prefixMatchInfoProducerName": "precise-prefix-cache-producer"}}]})
    local = yaml.safe_load(with_discovery_ports(text, 7000, 7100))
    assert local["plugins"][0]["parameters"]["kvEventsConfig"]["podDiscoveryConfig"] == {
        "socketPort": 7000, "replaySocketPort": 7100}
    assert "kvEventsConfig" not in local["plugins"][1]["parameters"]
