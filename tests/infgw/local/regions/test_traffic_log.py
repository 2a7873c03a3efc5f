from __future__ import annotations

import json
from pathlib import Path

from infgw.local.regions.traffic_log import TrafficLog


def _line(route: str, served: str, status: int) -> str:
    return json.dumps({"route": route, "served_region": served, "status": status}) + "\n"


def test_each_request_is_counted_local_spilled_failed_over_or_failed(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    path.write_text(
        _line("nearest/a", "a", 200)
        + _line("spill/a", "b", 200)
        + _line("nearest/a", "b", 200)
        + _line("nearest/a", "a", 503)
        + "not json\n"
        + '{"route": "nearest/b", "served_',  # a line Envoy has not finished writing
        encoding="utf-8",
    )
    log = TrafficLog(path, ("a", "b"))
    traffic = log.update()
    assert (traffic["a"].local, traffic["a"].spilled, traffic["a"].failed_over, traffic["a"].failed) == (
        1,
        1,
        1,
        1,
    )
    assert (traffic["a"].served, traffic["b"].served) == (1, 2)
    assert log.malformed == 1
    with path.open("a", encoding="utf-8") as more:
        more.write('region": "b", "status": 200}\n')
    assert log.update()["b"].local == 1
