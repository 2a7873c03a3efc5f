from __future__ import annotations

import pytest
from picker.plugins.header_based_testing_filter import ENDPOINT_SELECTION_HEADER, HeaderBasedTestingFilter

from tests.picker.unit.builders import endpoint_state, inference_request

STATES = [endpoint_state(i) for i in range(1, 4)]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("10.0.0.3,10.0.0.1", ["e3", "e1"]),
        ("10.0.0.2:8000", ["e2"]),
        ("10.0.0.9", []),
        (None, []),
        (" 10.0.0.1 , 10.0.0.1", ["e1"]),
    ],
    ids=[
        "keeps header order",
        "ip:port form",
        "unknown ip keeps nothing",
        "missing header keeps nothing",
        "spaces and duplicates",
    ],
)
def test_header_filter(header: str | None, expected: list[str]) -> None:
    headers = {} if header is None else {ENDPOINT_SELECTION_HEADER: header}
    kept = HeaderBasedTestingFilter().filter(inference_request(headers=headers), STATES)
    assert [state.endpoint.name for state in kept] == expected
