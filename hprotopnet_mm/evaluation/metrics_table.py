"""Print and save evaluation metrics."""
import json
import math
import numbers
from collections import OrderedDict
from typing import Any, Dict, List

import numpy as np
import torch


def _plain(value: Any) -> Any:
    """A metric value as a Python scalar (tensors and numpy scalars too)."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _cell(value: Any) -> str:
    value = _plain(value)
    if isinstance(value, bool) or isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return 'nan' if math.isnan(value) else f'{value:.4f}'
    return str(value)


def format_metrics_table(metrics: Dict[str, Any]) -> str:
    """Metrics as a text table, one column per metric group.

    A key ``'a/b/name'`` goes to row ``name`` of column ``a/b`` (a key
    without ``/`` to column ``-``), so ``hier/clip/class_acc`` and
    ``hier/video_vote/class_acc`` share the row ``class_acc``. Rows and
    columns keep the order of first appearance; a missing cell is blank.
    Integers print as they are, other numbers with 4 decimals.

    Args:
        metrics (dict): Metric name -> value.

    Returns:
        str: The table, lines joined by ``\\n``.
    """
    columns: 'OrderedDict[str, Dict[str, str]]' = OrderedDict()
    rows: List[str] = []
    for key, value in metrics.items():
        group, _, name = key.rpartition('/')
        group = group or '-'
        columns.setdefault(group, {})[name] = _cell(value)
        if name not in rows:
            rows.append(name)
    header = ['metric', *columns]
    table = [header] + [[row] + [col.get(row, '') for col in columns.values()]
                        for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]

    def fmt(line):
        first = line[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(line[1:], widths[1:])]
        return ' | '.join([first, *rest])

    lines = [fmt(header), '-+-'.join('-' * w for w in widths)]
    lines += [fmt(line) for line in table[1:]]
    return '\n'.join(lines)


def dump_metrics_json(metrics: Dict[str, Any], path: str) -> None:
    """Write metrics to a JSON file; NaN (undefined) is written as null.

    Args:
        metrics (dict): Metric name -> scalar value.
        path (str): Output file.
    """
    plain = {}
    for key, value in metrics.items():
        value = _plain(value)
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        plain[key] = value
    with open(path, 'w') as f:
        json.dump(plain, f, indent=2, allow_nan=False)
        f.write('\n')
