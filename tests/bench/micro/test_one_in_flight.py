"""bench.micro.picker.one_in_flight: picker variants from the command line, and Envoy's timing log read back."""

from __future__ import annotations

import argparse

import pytest
from bench.micro.picker.one_in_flight import PickerVariant, is_streamed, timing_median_ms, timing_value_ms


def test_a_variant_is_a_name_an_optional_git_ref_and_shell_split_flags():
    assert PickerVariant.parse("after=") == PickerVariant("after", None, ())
    assert PickerVariant.parse("before@main=--uvloop=false --seed 2") == PickerVariant(
        "before", "main", ("--uvloop=false", "--seed", "2")
    )


@pytest.mark.parametrize("text", ["after", "=--uvloop=false", "@main="])
def test_a_variant_without_a_name_or_flags_part_is_refused_with_the_form(text):
    with pytest.raises(argparse.ArgumentTypeError, match=r"NAME\[@GIT_REF\]=FLAGS"):
        PickerVariant.parse(text)


def test_timing_medians_read_envoys_fields_and_the_ext_proc_struct_and_skip_what_envoy_left_out():
    timings = [
        {"upstream_us": "200", "ext_proc": {"request_header_latency_us": 900}},
        {"upstream_us": "400", "ext_proc": {"request_header_latency_us": 700}},
        {"upstream_us": "-", "ext_proc": "-"},
    ]
    assert timing_median_ms(timings, "upstream_us") == "0.300"
    assert timing_median_ms(timings, "ext_proc.request_header_latency_us") == "0.800"
    assert timing_median_ms(timings, "ext_proc.response_header_latency_us") == "-"


def test_timing_lines_are_told_apart_by_the_answers_content_type():
    assert is_streamed({"response_content_type": "text/event-stream; charset=utf-8"})
    assert not is_streamed({"response_content_type": "application/json"})
    assert not is_streamed({})


def test_one_timing_value_reads_a_field_or_the_ext_proc_struct_and_is_none_where_envoy_logged_none():
    entry = {"upstream_us": "1500", "total_us": "-", "ext_proc": {"request_header_latency_us": 700}}
    assert timing_value_ms(entry, "upstream_us") == 1.5
    assert timing_value_ms(entry, "ext_proc.request_header_latency_us") == 0.7
    assert timing_value_ms(entry, "total_us") is None
    assert timing_value_ms(entry, "response_body_us") is None
    assert timing_value_ms({"ext_proc": "-"}, "ext_proc.request_header_latency_us") is None
