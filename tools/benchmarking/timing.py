"""Interleaved timing and the paired ratios the benchmark reports."""
import math
import statistics
import sys
import time
from typing import Callable, Dict, List, Tuple

import torch


def synchronize(device: str) -> None:
    if device == 'cuda':
        torch.cuda.synchronize()


def interleaved_times(fns: Dict[str, Callable[[], object]], warmup: int,
                      repeats: int, device: str,
                      label: str) -> Dict[str, Dict[str, List[float]]]:
    """Wall and CPU times of every function, interleaved.

    Each round calls every function once, in the given order on even rounds
    and in reverse on odd ones. The first ``warmup`` rounds are not kept.
    The CPU time is the process's (all threads, ``time.process_time``).

    Returns:
        dict: name -> ``dict(wall=[...], cpu=[...])``, seconds per kept
        round.
    """
    names = list(fns)
    times = {name: dict(wall=[], cpu=[]) for name in names}
    for round_index in range(warmup + repeats):
        order = names if round_index % 2 == 0 else names[::-1]
        for name in order:
            synchronize(device)
            wall, cpu = time.perf_counter(), time.process_time()
            fns[name]()
            synchronize(device)
            if round_index >= warmup:
                times[name]['wall'].append(time.perf_counter() - wall)
                times[name]['cpu'].append(time.process_time() - cpu)
        kind = 'warm-up' if round_index < warmup else 'round'
        number = round_index + 1 if round_index < warmup else \
            round_index - warmup + 1
        print(f'  {label}: {kind} {number} done', file=sys.stderr, flush=True)
    return times


def paired_figure(times: Dict[str, Dict[str, List[float]]], name: str,
                  reference: str, clock: str, **extra) -> Dict:
    """Median of the per-round ratios ``times[name] / times[reference]``
    on ``clock`` ('cpu' or 'wall'); the other clock's ratio and times are
    kept as ``wall_ratio``/``wall_values``... (or ``cpu_...``) for
    comparison."""

    def ratios(which: str) -> List[float]:
        return [
            a / b for a, b in zip(times[name][which], times[reference][which])
        ]

    figure = dict(
        ratio=statistics.median(ratios(clock)),
        clock=clock,
        ratios=ratios(clock),
        value=statistics.median(times[name][clock]),
        baseline_value=statistics.median(times[reference][clock]),
        unit='s',
        values=times[name][clock],
        baseline_values=times[reference][clock])
    other = 'wall' if clock == 'cpu' else 'cpu'
    figure[f'{other}_ratio'] = statistics.median(ratios(other))
    figure[f'{other}_values'] = times[name][other]
    figure[f'{other}_baseline_values'] = times[reference][other]
    figure.update(extra)
    return figure


def scale_times(times: Dict[str, Dict[str, List[float]]],
                calls: Dict[str, int]) -> Dict[str, Dict[str, List[float]]]:
    """Times per call of functions that ran ``calls[name]`` times."""
    return {
        name: {
            clock: [t / calls[name] for t in values]
            for clock, values in clocks.items()
        }
        for name, clocks in times.items()
    }


def per_call(fn: Callable[[], object], seconds: float,
             device: str) -> Tuple[Callable[[], None], int]:
    """``fn`` repeated enough times to take about ``seconds``, so that the
    timer resolution and call jitter do not dominate; returns the number of
    calls with the callable (time / calls = time per call)."""
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    calls = max(1, math.ceil(seconds / max(time.perf_counter() - start, 1e-9)))

    def run():
        for _ in range(calls):
            fn()

    return run, calls
