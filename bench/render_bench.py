"""The renderers on hostile Markdown: markdown2 (chatapp's renderer until issue 16, still NiceGUI's) against
markdown-it-py (chatapp/rendering.py), on the inputs that froze the server and on what a time-bounded
fuzzer finds, and how the worst of them grow with their length.

    .venv/bin/python bench/render_bench.py [--seconds 20] [--length 2000] [--seed 1]

Each render runs in a child process with a time limit, so a quadratic input costs the bench a timeout, not
the run. It prints tables; see bench/README.md.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import random
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import markdown2

from chatapp.rendering import render_cost, render_markdown

RESULTS = Path(__file__).with_name('results')
LIMIT_SECONDS = 30.0
STUCK_SECONDS = 5.0  # one fuzzed text that takes longer ends its search
# pieces of Markdown that open, close or nest constructs: where parsers spend their time
PIECES = ['[', ']', '(', ')', '![', '*', '**', '_', '`', '```', '~~', '<', '>', '> ', '&', '&#', '\\', '|', '-',
          '- ', '1. ', '#', '    ', '\n', '\n\n', ' ', 'a', 'x y', 'http://e.x/', '"', "'", '=', '$']
NAMED = {
    '[x]( × 10,000': '[x](' * 10_000,
    'backticks × 40,000': '`' * 40_000,
    '[ × 64,000': '[' * 64_000,
    '> × 200 (nesting)': '>' * 200 + ' x',
    'list nested 300 deep': ''.join('  ' * depth + '- a\n' for depth in range(300)),
    'prose, 20,000 chars': ('The quick brown fox jumps over the lazy dog, and **then** some `code`. ' * 290)[:20_000],
}


def render_markdown2(text: str) -> str:
    return markdown2.markdown(text, extras=['fenced-code-blocks', 'tables', 'cuddled-lists', 'strike',
                                            'code-friendly', 'break-on-newline', 'target-blank-links'],
                              safe_mode='escape')


RENDERERS: dict[str, Callable[[str], str]] = {'markdown2': render_markdown2, 'markdown-it-py': render_markdown}


def _timed(name: str, text: str, answer: multiprocessing.Queue) -> None:
    started = time.perf_counter()
    try:
        RENDERERS[name](text)
        answer.put(time.perf_counter() - started)
    except RecursionError:
        answer.put('RecursionError')


def timed(name: str, text: str, limit: float = LIMIT_SECONDS) -> float | str:
    """Seconds one render takes, in a child process; 'timeout' or the error it raised."""
    answer: multiprocessing.Queue = multiprocessing.Queue()
    child = multiprocessing.Process(target=_timed, args=(name, text, answer))
    child.start()
    child.join(limit)
    if child.is_alive():
        child.kill()
        child.join()
        return f'> {limit:g} s'
    return answer.get() if not answer.empty() else 'crashed'


def shown(result: float | str) -> str:
    return f'{result * 1000:,.1f} ms' if isinstance(result, float) else result


def fuzz(name: str, seconds: float, length: int, seed: int) -> tuple[int, list[tuple[float, str]]]:
    """Random Markdown-ish texts of `length` characters for `seconds`; the slowest per character."""
    rng = random.Random(seed)
    render = RENDERERS[name]
    worst: list[tuple[float, str]] = []
    tried = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        # a run of one piece repeated is where super-linear parsers show; mixed text is the rest
        weights = [rng.random() ** 4 for _ in PIECES]
        text = ''.join(rng.choices(PIECES, weights, k=length))[:length]
        started = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, STUCK_SECONDS)  # a text that takes longer is the worst found
        try:
            render(text)
        except (RecursionError, Stuck):
            worst.append((math.inf, text))
        else:
            worst.append(((time.perf_counter() - started) / len(text), text))
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            tried += 1
        worst = sorted(worst, key=lambda found: found[0], reverse=True)[:3]
    return tried, worst


class Stuck(Exception):
    pass


def _stuck(signum: int, frame: object) -> None:
    raise Stuck()


def growth(name: str, text: str) -> list[float | str]:
    """The same input, and grown to 4 and 16 times its length."""
    return [timed(name, (text * factor)) for factor in (1, 4, 16)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seconds', type=float, default=20.0, help='fuzzing time per renderer')
    parser.add_argument('--length', type=int, default=2000, help='characters per fuzzed text')
    parser.add_argument('--seed', type=int, default=1)
    args = parser.parse_args()
    signal.signal(signal.SIGALRM, _stuck)

    print('\nThe inputs that froze the server (one render each, in a child process):\n')
    print(f'| input | chars | {" | ".join(RENDERERS)} | render_cost |')
    print('|---|---|' + '---|' * len(RENDERERS) + '---|')
    for label, text in NAMED.items():
        results = ' | '.join(shown(timed(name, text)) for name in RENDERERS)
        print(f'| {label} | {len(text):,} | {results} | {render_cost(text):,} |')

    print(f'\nFuzzing {args.seconds:g} s per renderer, {args.length:,} characters a text (seed {args.seed}); '
          'the slowest text found, grown to 4× and 16×:\n')
    print('| renderer | texts | worst µs/char | at 1× | at 4× | at 16× | growth 1×→16× |')
    print('|---|---|---|---|---|---|---|')
    for name in RENDERERS:
        tried, worst = fuzz(name, args.seconds, args.length, args.seed)
        per_char, text = worst[0]
        times = growth(name, text)
        ratio = (f'{times[2] / times[0]:.0f}×' if all(isinstance(t, float) for t in (times[0], times[2]))
                 else 'n/a')
        worst_shown = f'> {STUCK_SECONDS:g} s or recursion' if math.isinf(per_char) else f'{per_char * 1e6:.2f}'
        print(f'| {name} | {tried:,} | {worst_shown} | {" | ".join(shown(t) for t in times)} | {ratio} |')
        print(f'|   worst text starts | | `{text[:60]!r}` | | | | |')
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f'render-worst-{name}.md').write_text(text)
    print('\nLinear growth is 16× from 1× to 16×; quadratic is 256×. The worst texts are in bench/results/.')


if __name__ == '__main__':
    main()
