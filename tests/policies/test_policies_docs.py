"""docs/policies.md is generated from the pack; this fails when someone changes a rule and forgets it."""

from __future__ import annotations

from policies.docs import DOCS_PATH, render_markdown
from policies.pack import RULES


def test_docs_are_current():
    assert DOCS_PATH.exists(), "run `python -m policies.docs` to create docs/policies.md"
    assert DOCS_PATH.read_text() == render_markdown(), "docs/policies.md is stale: run `python -m policies.docs`"


def test_docs_list_every_rule_with_level_and_config():
    rendered = render_markdown()
    for rule in RULES:
        row = next(line for line in rendered.splitlines() if line.startswith(f"| `{rule.name}` |"))
        assert f"| {rule.enforcement_level.value} | {rule.scope} |" in row
        schema = rule.config_schema()
        for key in (schema.properties if schema else {}):
            assert f"`{key}`" in row
