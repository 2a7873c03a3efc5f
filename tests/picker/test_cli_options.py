"""python -m picker flags: EPP spellings and defaults, Go-style booleans and durations, clear errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
from picker.__main__ import main
from picker.cli import OptionsError, build_parser, parse_options


def test_epp_defaults():
    options = parse_options(["--pool-name", "vllm-pool"])
    assert (options.grpc_port, options.grpc_health_port, options.metrics_port) == (9002, 9003, 9090)
    assert options.secure_serving is True and options.cert_path is None
    assert options.refresh_metrics_interval_s == pytest.approx(0.05)
    assert options.metrics_staleness_threshold_s == pytest.approx(2.0)
    assert options.refresh_prometheus_metrics_interval_s == pytest.approx(5.0)
    assert options.pool_group == "inference.networking.k8s.io"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--secure-serving=false"], False),
        (["--secure-serving", "false"], False),
        (["--secure-serving"], True),
        (["--secure-serving=TRUE"], True),
    ],
    ids=["equals false", "separate false", "bare flag", "upper-case true"],
)
def test_go_style_booleans(argv, expected):
    assert parse_options(["--pool-name", "p", *argv]).secure_serving is expected


def test_go_style_durations_and_verbosity():
    options = parse_options(
        [
            "--pool-name",
            "p",
            "--refresh-metrics-interval",
            "100ms",
            "--metrics-staleness-threshold",
            "1m30s",
            "--v",
            "4",
        ]
    )
    assert options.refresh_metrics_interval_s == pytest.approx(0.1)
    assert options.metrics_staleness_threshold_s == pytest.approx(90.0)
    assert options.log_level == "debug"


def test_chart_arguments_run_unchanged():
    argv = [
        "--pool-name", "vllm-llama3-8b-instruct", "--pool-namespace", "default",
        "--pool-group", "inference.networking.k8s.io", "--zap-encoder", "json",
        "--config-file", "/config/default-plugins.yaml", "--v", "1", "--tracing", "false",
        "--metrics-endpoint-auth=false",
    ]  # fmt: skip
    options = parse_options(argv)
    assert (options.log_format, options.tracing, options.metrics_endpoint_auth) == ("json", False, False)


def test_leader_election_flags_default_to_controller_runtime_and_name_the_epp_lease(tmp_path):
    options = parse_options(["--pool-name", "pool", "--ha-enable-leader-election"])
    assert options.ha_enable_leader_election
    assert (options.ha_lease_duration_s, options.ha_renew_deadline_s, options.ha_retry_period_s) == (
        15,
        10,
        2,
    )
    assert options.lease_name({"NAMESPACE": "team"}) == "epp-team-pool.llm-d.ai"
    assert options.kubeconfig is None
    options = parse_options(
        [
            "--pool-name=pool", "--pool-namespace=ns", "--endpoints-file", "e.yaml",
            "--kubeconfig", str(tmp_path / "kubeconfig"), "--ha-enable-leader-election=true",
            "--ha-lease-duration=3s", "--ha-renew-deadline", "2s", "--ha-retry-period", "500ms",
        ]
    )  # fmt: skip
    assert (options.ha_lease_duration_s, options.ha_renew_deadline_s, options.ha_retry_period_s) == (
        3,
        2,
        0.5,
    )
    assert options.kubeconfig == tmp_path / "kubeconfig"
    assert options.lease_name({}) == "epp-ns-pool.llm-d.ai"


def test_pool_namespace_resolution():
    options = parse_options(["--pool-name", "p"])
    assert options.resolved_pool_namespace({"NAMESPACE": "serving"}) == "serving"
    assert options.resolved_pool_namespace({}) == "default"
    assert parse_options(["--pool-name", "p", "--pool-namespace", "x"]).resolved_pool_namespace({}) == "x"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "--pool-name is required"),
        (["--pool-name", "p", "--metrics-endpoint-auth"], "needs --metrics-auth-token-file"),
        (
            ["--pool-name", "p", "--grpc-port", "70000"],
            "--grpc-port: Input should be less than or equal to 65535",
        ),
        (
            ["--pool-name", "p", "--secure-serving=false", "--cert-path", "/certs"],
            "--cert-path has no effect",
        ),
        (
            ["--pool-name", "p", "--total-queued-requests-metric", "sglang:num_queue_reqs"],
            "vLLM's metric names",
        ),
        (
            ["--endpoints-file", "e.yaml", "--ha-enable-leader-election"],
            "--ha-enable-leader-election needs --pool-name",
        ),
        (
            ["--pool-name", "p", "--ha-enable-leader-election", "--ha-lease-duration", "10s"],
            r"--ha-lease-duration \(10s\) must be longer than --ha-renew-deadline \(10s\)",
        ),
        (
            ["--pool-name", "p", "--ha-enable-leader-election", "--ha-retry-period", "9s"],
            r"--ha-renew-deadline \(10s\) must be longer than 1.2 x --ha-retry-period \(9s\)",
        ),
    ],
    ids=[
        "no pool",
        "auth without token",
        "port range",
        "cert without TLS",
        "foreign metric name",
        "election without pool name",
        "lease not longer than renew deadline",
        "renew deadline within jittered retry",
    ],
)
def test_inconsistent_flags_name_the_flag_and_the_fix(argv, message):
    with pytest.raises(OptionsError, match=message):
        parse_options(argv)


@pytest.mark.parametrize(
    "argv",
    [
        ["--pool-name", "p", "--secure-serving=maybe"],
        ["--pool-name", "p", "--refresh-metrics-interval", "fast"],
    ],
    ids=["bad boolean", "bad duration"],
)
def test_unparseable_values_exit_with_usage(argv, capsys):
    with pytest.raises(OptionsError):
        parse_options(argv)
    assert main(argv) == 2
    assert "python -m picker: error" in capsys.readouterr().err


def test_unknown_flags_are_options_errors_naming_them():
    with pytest.raises(OptionsError, match="unrecognized arguments: --no-such-flag"):
        parse_options(["--pool-name", "p", "--no-such-flag"])


def test_config_file_and_text_are_mutually_exclusive():
    with pytest.raises(OptionsError, match="not allowed with argument"):
        parse_options(["--pool-name", "p", "--config-file", "a.yaml", "--config-text", "x"])


def test_help_documents_every_flag():
    help_text = build_parser().format_help()
    for action in build_parser()._actions:
        for flag in action.option_strings:
            assert flag in help_text
        assert action.help, f"{action.option_strings} has no help text"


def test_main_exits_2_with_the_config_problem_before_serving(tmp_path, capsys):
    bad = tmp_path / "endpoints.yaml"
    bad.write_text("endpoints:\n  - name: a\n    address: not-an-ip\n    port: 8000\n")
    assert (
        main(
            [
                "--endpoints-file",
                str(bad),
                "--grpc-port",
                "0",
                "--grpc-health-port",
                "0",
                "--metrics-port",
                "0",
            ]
        )
        == 2
    )
    assert "endpoints[0].address" in capsys.readouterr().err


def test_main_exits_2_for_bad_flags(capsys):
    assert main([]) == 2
    assert "--pool-name is required" in capsys.readouterr().err


@pytest.mark.integration
def test_python_m_picker_help_runs():
    result = subprocess.run(
        [sys.executable, "-m", "picker", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    assert "--endpoints-file" in result.stdout and "--grpc-health-port" in result.stdout


@pytest.mark.parametrize(("log_level", "grpclib_level"), [("info", "WARNING"), ("debug", "DEBUG")])
def test_grpclib_stream_resets_are_not_logged_per_request_unless_debugging(log_level, grpclib_level):
    import logging

    from picker.__main__ import configure_logging

    grpclib_logger = logging.getLogger("grpclib.server")
    saved = (logging.getLogger().level, logging.getLogger().handlers[:], grpclib_logger.level)
    try:
        grpclib_logger.setLevel(logging.NOTSET)
        configure_logging(parse_options(["--pool-name", "p", "--log-level", log_level]))
        assert logging.getLevelName(grpclib_logger.getEffectiveLevel()) == grpclib_level
    finally:
        logging.getLogger().setLevel(saved[0])
        logging.getLogger().handlers[:] = saved[1]
        grpclib_logger.setLevel(saved[2])


def test_model_server_scheduling_policy_defaults_to_fcfs_and_takes_priority():
    assert parse_options(["--pool-name", "p"]).model_server_scheduling_policy == "fcfs"
    options = parse_options(["--pool-name", "p", "--model-server-scheduling-policy", "priority"])
    assert options.model_server_scheduling_policy == "priority"
    with pytest.raises(OptionsError, match="invalid choice: 'lifo' \\(choose from 'fcfs', 'priority'\\)"):
        parse_options(["--pool-name", "p", "--model-server-scheduling-policy", "lifo"])
