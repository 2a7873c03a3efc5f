"""Answer text: deterministic pieces and stop-string detection."""

from __future__ import annotations

import random

from sim.answer_text import AnswerPieces, AnswerText
from sim.tokenizer import ApproximateTokenizer


def test_stop_found_across_piece_boundaries() -> None:
    pieces = AnswerPieces(["ab", "cd", "ef"], 0)
    match = pieces.first_stop(["bcd"], max_tokens=10)
    assert match is not None and (match.tokens, match.visible_chars, match.stop) == (2, 1, "bcd")


def test_earliest_stop_wins_and_horizon_is_bounded() -> None:
    pieces = AnswerPieces(["ab", "cd", "ef"], 0)
    match = pieces.first_stop(["ef", "c"], max_tokens=10)
    assert match is not None and match.stop == "c" and match.tokens == 2
    assert pieces.first_stop(["zz"], max_tokens=10**9) is None  # the source repeats: no infinite scan
    assert pieces.first_stop(["ef"], max_tokens=2) is None  # beyond max_tokens
    assert pieces.first_stop([""], max_tokens=5) is None


def test_seeded_and_greedy_answers_repeat() -> None:
    answers = AnswerText(ApproximateTokenizer(), random.Random(0))
    assert answers.start(seed=3).text(20) == answers.start(seed=3).text(20)
    assert answers.start(greedy_key=b"prompt").text(20) == answers.start(greedy_key=b"prompt").text(20)
    assert answers.start(echo_source="say it back").text(4) == "say it back"
