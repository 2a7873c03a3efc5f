"""The bench command line: preset flags and config errors fail before anything is started."""

from __future__ import annotations

from bench.cli import app
from typer.testing import CliRunner


def test_quick_and_full_together_are_refused():
    result = CliRunner().invoke(app, ["--quick", "--full"])
    assert result.exit_code == 2
    assert "exclusive" in result.output


def test_unknown_overhead_target_in_a_config_names_the_key(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text(
        "targets: [envoy-round-robin]\n"
        "scenarios: [{name: s, workload: {kind: no-sharing}, load: {kind: open, rate_rps: 1}}]\n"
        "overhead: {targets: [direct, nginx]}\n")
    result = CliRunner().invoke(app, ["--config", str(config), "--no-install-peers"])
    assert result.exit_code == 2
    assert "overhead.targets" in result.output and "nginx" in result.output


def test_only_overhead_with_scenarios_is_refused_before_anything_starts():
    result = CliRunner().invoke(app, ["--only-overhead", "--scenarios", "no-sharing", "--no-install-peers"])
    assert result.exit_code == 2
    assert "--only-overhead runs no scenarios" in result.output
