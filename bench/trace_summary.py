"""Where a page's browser CPU goes: a Chromium trace (CDP Tracing), summed per process and thread, and the
busiest threads' time per kind of work (script, style, layout, paint, composite, ...).

    stream_bench.py --trace  # writes bench/results/<phase>-trace.json and prints this summary per phase

Times are thread CPU (`tdur`) where Chromium records it, else wall time (`dur`), and exclusive: an event's
time less its children's, so nothing is counted twice.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

CATEGORIES = ','.join((
    'toplevel', 'devtools.timeline', 'disabled-by-default-devtools.timeline', 'v8', 'blink', 'cc', 'viz', 'gpu',
    'ipc', 'mojom', 'net', 'netlog', 'loading', 'renderer.scheduler',
))

# what an event is, by its name: the first pattern that the name starts with or equals
KINDS = (
    ('script', ('FunctionCall', 'EvaluateScript', 'v8.', 'V8.', 'TimerFire', 'FireAnimationFrame', 'EventDispatch',
                'RunMicrotasks', 'v8::', 'CompileScript', 'ParseScript', 'Compile', 'DOMURL', 'ScriptEvaluation')),
    ('gc', ('MinorGC', 'MajorGC', 'BlinkGC', 'GCEvent', 'V8.GC', 'CppGC')),
    ('style', ('UpdateLayoutTree', 'RecalculateStyles', 'RecalcStyle', 'ParseAuthorStyleSheet', 'StyleRecalc')),
    ('layout', ('Layout', 'LayoutObject', 'UpdateLayout', 'PerformLayout')),
    ('paint', ('Paint', 'PrePaint', 'PaintImage', 'Layerize', 'UpdateLayer', 'PaintArtifactCompositor',
               'Decode', 'HitTest')),
    ('raster', ('Raster', 'TileManager', 'RasterTask', 'ImageDecodeTask', 'SoftwareRaster', 'PlaybackRaster')),
    ('composite', ('Commit', 'CompositeLayers', 'ProxyMain', 'ProxyImpl', 'LayerTreeHost', 'LayerTreeImpl',
                   'Scheduler::', 'Graphics.Pipeline', 'DrawFrame', 'PrepareToDraw', 'Display::',
                   'DirectRenderer', 'SkiaRenderer', 'SoftwareRenderer', 'SurfaceAggregator', 'Frame', 'viz::',
                   'BeginFrame', 'BeginMainThreadFrame', 'cc::', 'Swap', 'SubmitCompositorFrame', 'Viz',
                   'CompositorFrame', 'Animate', 'ScrollUpdate', 'DisplayScheduler')),
    ('html', ('ParseHTML', 'HTMLDocumentParser', 'ParseHTMLFragment', 'innerHTML')),
    ('ipc+mojo', ('Receive mojo', 'Send mojo', 'mojo', 'Mojo', 'IPC', 'ChannelMojo', 'Connector', 'SimpleWatcher',
                  'ThreadControllerImpl::RunTask', 'RunTask', 'SequenceManager', 'MessagePipe', 'Receive ')),
    ('network', ('WebSocket', 'URLLoader', 'Net', 'net::', 'Socket', 'HttpStream', 'ResourceLoad')),
)


def kind_of(name: str) -> str:
    for kind, prefixes in KINDS:
        if name.startswith(prefixes):
            return kind
    return 'other'


def summarize(trace: dict | list, tokens: int, *, top_threads: int = 8) -> str:
    """A table: CPU per 1,000 tokens per thread, then per kind of work on the busiest threads."""
    events = trace['traceEvents'] if isinstance(trace, dict) else trace
    process_names, thread_names = _names(events)
    per_thread: dict[tuple[int, int], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for key, spans in _spans_by_thread(events).items():
        for name, seconds in _exclusive(spans):
            per_thread[key][kind_of(name)] += seconds
    ranked = sorted(per_thread.items(), key=lambda item: -sum(item[1].values()))
    scale = 1000 / max(tokens, 1)
    kinds = [kind for kind, _ in KINDS] + ['other']
    lines = [f'{"thread":<44}{"s/1k":>8}  ' + ''.join(f'{k:>10}' for k in kinds)]
    for (pid, tid), costs in ranked[:top_threads]:
        label = f'{process_names.get(pid, pid)}: {thread_names.get((pid, tid), tid)}'[:43]
        lines.append(f'{label:<44}{sum(costs.values()) * scale:>8.3f}  '
                     + ''.join(f'{costs.get(k, 0.0) * scale:>10.3f}' for k in kinds))
    rest = sum(sum(costs.values()) for _, costs in ranked[top_threads:]) * scale
    total = sum(sum(costs.values()) for _, costs in ranked) * scale
    lines.append(f'{"(other threads)":<44}{rest:>8.3f}')
    lines.append(f'{"all traced threads":<44}{total:>8.3f}')
    return '\n'.join(lines)


def _names(events: Iterable[dict]) -> tuple[dict[int, str], dict[tuple[int, int], str]]:
    processes: dict[int, str] = {}
    threads: dict[tuple[int, int], str] = {}
    for event in events:
        if event.get('ph') != 'M':
            continue
        if event.get('name') == 'process_name':
            processes[event['pid']] = event['args'].get('name', '')
        elif event.get('name') == 'thread_name':
            threads[(event['pid'], event['tid'])] = event['args'].get('name', '')
    return processes, threads


def _spans_by_thread(events: Iterable[dict]) -> dict[tuple[int, int], list[tuple[float, float, float, str]]]:
    """(start, end, cpu seconds, name) of each complete event ('X', or a 'B'/'E' pair), per thread."""
    spans: dict[tuple[int, int], list[tuple[float, float, float, str]]] = defaultdict(list)
    open_: dict[tuple[int, int], list[dict]] = defaultdict(list)
    for event in events:
        key, phase = (event.get('pid'), event.get('tid')), event.get('ph')
        if phase == 'X' and 'dur' in event:
            cpu = event.get('tdur', event['dur'])
            spans[key].append((event['ts'], event['ts'] + event['dur'], cpu / 1e6, event.get('name', '')))
        elif phase == 'B':
            open_[key].append(event)
        elif phase == 'E' and open_[key]:
            begin = open_[key].pop()
            wall = event['ts'] - begin['ts']
            cpu = event['tts'] - begin['tts'] if 'tts' in event and 'tts' in begin else wall
            spans[key].append((begin['ts'], event['ts'], cpu / 1e6, begin.get('name', '')))
    return spans


def _exclusive(spans: list[tuple[float, float, float, str]]) -> Iterable[tuple[str, float]]:
    """Each span's own time: its CPU less that of the spans nested in it."""
    spans.sort(key=lambda s: (s[0], -s[1]))
    stack: list[list] = []  # [end, own cpu, name]
    for start, end, cpu, name in spans:
        while stack and stack[-1][0] <= start:
            done = stack.pop()
            yield done[2], max(done[1], 0.0)
        if stack:
            stack[-1][1] -= cpu
        stack.append([end, cpu, name])
    while stack:
        done = stack.pop()
        yield done[2], max(done[1], 0.0)


if __name__ == '__main__':  # trace_summary.py TRACE.json [TOKENS]
    print(summarize(json.loads(Path(sys.argv[1]).read_text()), int(sys.argv[2]) if len(sys.argv) > 2 else 1000))
