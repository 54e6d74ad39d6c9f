"""The code stays ruff-clean: checked as part of the suite so that CI enforces it."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ruff_is_clean() -> None:
    result = subprocess.run([sys.executable, '-m', 'ruff', 'check', '--output-format', 'concise', 'chatapp', 'tests',
                             'bench'], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
