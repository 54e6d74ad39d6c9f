"""`.env.example` and README.md's configuration tables document every setting of chatapp/settings.py with the
default it defines there, and nothing else."""

from __future__ import annotations

import re
from dataclasses import Field, fields
from pathlib import Path

from dotenv import dotenv_values

from chatapp.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = {item.metadata['setting'].name: item for item in fields(Settings)}  # by variable


def written(item: Field) -> str:
    """The default as a line of .env writes it. Empty: not set, so it is derived or generated, or (a setting with a
    fallback) the other variable is read."""
    value = item.default
    if item.metadata['setting'].fallback:
        return ''
    if isinstance(value, bool):
        return '1' if value else '0'
    if isinstance(value, tuple):
        return ','.join(value)
    if isinstance(value, float):
        return f'{value:g}'
    return str(value)


def mismatch(shown: list[str]) -> dict[str, list[str]]:
    """What a document gets wrong about which settings there are."""
    return {'missing': sorted(set(SETTINGS) - set(shown)), 'unknown': sorted(set(shown) - set(SETTINGS)),
            'repeated': sorted({name for name in shown if shown.count(name) > 1})}


def test_each_default_as_written_reads_as_the_default() -> None:
    for name, item in SETTINGS.items():
        if written(item):
            assert getattr(load_settings({name: written(item)}), item.name) == item.default, name


def test_env_example_sets_every_setting_to_its_default() -> None:
    path = ROOT / '.env.example'
    names = [line.partition('=')[0] for line in path.read_text().splitlines() if line.strip() and line[0] != '#']
    assert not any(mismatch(names).values()), mismatch(names)
    example = dotenv_values(path)  # as the app reads a .env
    assert {name: example[name] for name in SETTINGS} == {name: written(item) for name, item in SETTINGS.items()}


def readme_rows() -> list[list[str]]:
    """The cells of each row of the tables under "## Configuration" and "## Login", headers left out."""
    rows = []
    for section in re.split(r'^## ', (ROOT / 'README.md').read_text(), flags=re.MULTILINE):
        if section.startswith(('Configuration\n', 'Login\n')):
            for line in section.splitlines():
                cells = [cell.strip() for cell in line.strip().strip('|').split('|')]
                if line.startswith('|') and cells[0] != 'Setting' and not set(cells[0]) <= set('-:'):
                    rows.append(cells)
    return rows


def test_readme_tables_show_every_setting_with_its_default() -> None:
    """A row names one or more settings and shows one default for all of them, or one each: `value`, or an en dash
    when it is empty; then maybe a remark in parentheses."""
    rows = [(re.findall(r'`([^`]+)`', cells[0]), cells) for cells in readme_rows()]
    for names, cells in rows:
        assert cells[0] == ', '.join(f'`{name}`' for name in names), cells[0]
    shown = [name for names, _ in rows for name in names]
    assert not any(mismatch(shown).values()), mismatch(shown)
    for names, cells in rows:
        defaults = [f'`{written(SETTINGS[name])}`' if written(SETTINGS[name]) else '–' for name in names]
        expected = ', '.join(defaults[:1] if len(set(defaults)) == 1 else defaults)
        assert cells[1] == expected or cells[1].startswith(f'{expected} ('), (cells[0], cells[1], expected)
        for name in names:
            fallback = SETTINGS[name].metadata['setting'].fallback
            assert not fallback or f'`{fallback}`' in cells[1], (name, 'the default should name', fallback)


def test_the_deploy_env_file_sets_only_settings() -> None:
    assert set(dotenv_values(ROOT / 'docs' / 'deploy' / 'chatapp.env.example')) <= set(SETTINGS)
