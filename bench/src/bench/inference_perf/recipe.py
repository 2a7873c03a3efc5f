"""Drives ``inference-perf`` against a local fleet behind one of the bench's targets.

inference-perf lives in its own virtualenv (it needs Python >= 3.12 and brings transformers); the
bench builds a tokenizer for it from seeded local text, so nothing is downloaded at run time.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from bench.config import FleetSpec
from bench.fleet import running_fleet
from bench.targets.base import Target
from bench.workloads.text import TextGenerator

INFERENCE_PERF_SPEC = "inference-perf>=0.7,<0.8"
MIN_PYTHON = (3, 12)
BUILD_TOKENIZER = Path(__file__).with_name("build_tokenizer.py")


class RecipeError(RuntimeError):
    """The recipe cannot run here; the message says why and what to do."""


class InferencePerfRun(BaseModel):
    """A constant-rate shared-prefix run, the inference-perf counterpart of the bench's chat scenario."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    rate_rps: float = Field(default=4.0, gt=0)
    duration_s: int = Field(default=30, gt=0)
    groups: int = Field(default=8, ge=1)
    prompts_per_group: int = Field(default=16, ge=1)
    system_prompt_tokens: int = Field(default=2000, ge=1)
    question_tokens: int = Field(default=100, ge=1)
    output_tokens: int = Field(default=32, ge=1)


def python_version(python: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run([python, "-c", "import sys; print(*sys.version_info[:2])"], capture_output=True,
                             text=True, timeout=30, check=True).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return None
    return int(out[0]), int(out[1])


def find_python(explicit: str | None) -> str:
    """An interpreter new enough for inference-perf, or RecipeError naming what was found."""
    candidates = [explicit] if explicit else ["python3.14", "python3.13", "python3.12", "python3"]
    seen = []
    for candidate in candidates:
        path = shutil.which(candidate) or (candidate if Path(candidate).exists() else None)
        version = python_version(path) if path else None
        if version is not None:
            seen.append(f"{candidate} = {version[0]}.{version[1]}")
            if version >= MIN_PYTHON:
                return path  # type: ignore[return-value]
    raise RecipeError(
        "inference-perf needs Python >= 3.12 (every release on PyPI declares Requires-Python >=3.12); "
        f"found {', '.join(seen) or 'no python'}. Install Python 3.12+ and pass --python /path/to/python3.12.")


def ensure_venv(python: str, venv: Path) -> Path:
    """Creates ``venv`` with ``python`` and installs inference-perf; returns its console script."""
    executable = venv / "bin" / "inference-perf"
    if executable.exists():
        return executable
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    completed = subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", INFERENCE_PERF_SPEC], check=False)
    if completed.returncode != 0 or not executable.exists():
        raise RecipeError(f"pip could not install {INFERENCE_PERF_SPEC} into {venv}")
    return executable


def build_tokenizer(venv: Path, out_dir: Path, seed: int) -> Path:
    """Trains the local tokenizer on seeded bench text with the venv's ``tokenizers`` package."""
    corpus = out_dir / "corpus.txt"
    out_dir.mkdir(parents=True, exist_ok=True)
    text = TextGenerator(random.Random(f"tokenizer:{seed}"))
    corpus.write_text("\n".join(text.words(200) for _ in range(2000)), encoding="utf-8")
    tokenizer_dir = out_dir / "tokenizer"
    subprocess.run([str(venv / "bin" / "python"), str(BUILD_TOKENIZER), str(corpus), str(tokenizer_dir)], check=True)
    return tokenizer_dir


def inference_perf_config(base_url: str, model: str, tokenizer_dir: Path, run: InferencePerfRun,
                          report_dir: Path) -> dict[str, object]:
    """inference-perf's YAML config (its documented keys): constant load, shared-prefix data, vLLM server."""
    return {
        "load": {"type": "constant", "stages": [{"rate": run.rate_rps, "duration": run.duration_s}]},
        "api": {"type": "completion", "streaming": True},
        "server": {"type": "vllm", "model_name": model, "base_url": base_url, "ignore_eos": True},
        "tokenizer": {"pretrained_model_name_or_path": str(tokenizer_dir)},
        "data": {"type": "shared_prefix", "shared_prefix": {
            "num_unique_system_prompts": run.groups,
            "num_users_per_system_prompt": run.prompts_per_group,
            "system_prompt_len": run.system_prompt_tokens,
            "question_len": run.question_tokens,
            "output_len": run.output_tokens,
        }},
        "report": {"request_lifecycle": {"summary": True, "per_stage": True, "per_request": False}},
        "storage": {"local_storage": {"path": str(report_dir)}},
    }


async def run_recipe(target: Target, fleet: FleetSpec, run: InferencePerfRun, python: str | None, venv: Path,
                     out_dir: Path, work_dir: Path, seed: int) -> Path:
    """Runs inference-perf through ``target``; returns the folder holding its reports."""
    interpreter = find_python(python)
    executable = await asyncio.to_thread(ensure_venv, interpreter, venv)
    tokenizer_dir = await asyncio.to_thread(build_tokenizer, venv, work_dir, seed)
    report_dir = out_dir.resolve()
    report_dir.mkdir(parents=True, exist_ok=True)
    async with running_fleet(fleet, seed, work_dir / "fleet", kv_events=target.wants_kv_events) as view, target.serve(view) as base_url:
        config_path = work_dir / "inference-perf.yml"
        config_path.write_text(yaml.safe_dump(inference_perf_config(base_url, fleet.model, tokenizer_dir, run,
                                                                    report_dir)), encoding="utf-8")
        process = await asyncio.create_subprocess_exec(
            str(executable), "--config_file", str(config_path), cwd=work_dir,
            env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PATH": str(venv / "bin")})
        try:
            code = await asyncio.wait_for(process.wait(), timeout=run.duration_s + 300)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise RecipeError(f"inference-perf did not finish within {run.duration_s + 300} s") from None
    if code != 0:
        raise RecipeError(f"inference-perf exited with {code}; its config is {config_path}")
    shutil.copy(config_path, report_dir / "inference-perf.yml")
    return report_dir


def default_venv() -> Path:
    return Path(sys.prefix) / "inference-perf"
