"""``packbuilder --help`` must start in under 0.3 s: heavy modules are imported lazily."""

from __future__ import annotations

import sys

from bench.common import median_of_command, report

TARGET_S = 0.3


def run() -> bool:
    python = median_of_command([sys.executable, "-c", "pass"])
    help_time = median_of_command([sys.executable, "-m", "packbuilder", "--help"])
    version_time = median_of_command([sys.executable, "-m", "packbuilder", "--version"])
    report("packbuilder --version", version_time, "s", "python -c pass", python, f"< {TARGET_S} s", version_time < TARGET_S)
    return report("packbuilder --help", help_time, "s", "python -c pass", python, f"< {TARGET_S} s", help_time < TARGET_S)


if __name__ == "__main__":
    sys.exit(0 if run() else 1)
