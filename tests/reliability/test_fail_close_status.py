"""What a FailClose pool answers when its picker is unreachable: 503 (the Inference Gateway's promise),
checked on the bootstrap infgw.envoy builds; the integration suite measures the live answer."""

from __future__ import annotations

from infgw.envoy import EnvoyBootstrapSpec, PickerConnection, build_bootstrap


def _ext_proc_config() -> dict[str, object]:
    bootstrap = build_bootstrap(EnvoyBootstrapSpec(picker=PickerConnection(port=9002)))
    manager = bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    return next(
        f["typed_config"] for f in manager["http_filters"] if f["name"] == "envoy.filters.http.ext_proc"
    )


def test_fail_close_does_not_let_requests_through() -> None:
    assert _ext_proc_config()["failure_mode_allow"] is False


def test_fail_close_answers_503_when_the_picker_is_unreachable() -> None:
    assert _ext_proc_config().get("status_on_error") == {"code": "ServiceUnavailable"}
