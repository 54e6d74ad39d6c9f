"""The log files of the servers tests run. A failing test's report shows what each watched log got while the
test ran (the hooks in tests/conftest.py read WATCHED)."""

from __future__ import annotations

from pathlib import Path


class LogFile:
    def __init__(self, name: str, path: Path) -> None:
        self.name = name
        self.path = path
        self.mark = 0  # where the current test's lines begin

    def text(self, since: int = 0) -> str:
        try:
            with self.path.open('rb') as file:
                file.seek(since)
                return file.read().decode(errors='replace')
        except FileNotFoundError:
            return ''

    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def tail(self, lines: int = 30) -> str:
        return '\n'.join(self.text().splitlines()[-lines:])


WATCHED: list[LogFile] = []
