"""Keep the Runner's checkpoints loadable with ``weights_only=True``.

MMEngine stores its message hub as ``HistoryBuffer`` objects holding numpy
arrays, and hooks may put numpy values in the runtime info. None of these
pass PyTorch's weights-only unpickler. :func:`to_plain` rewrites them into
tensors, numbers and tagged dicts before a checkpoint is written, and
:func:`from_plain` restores them after it is read, so this project's own
checkpoints never need full unpickling: not to test, explain or fine-tune
from them, and not to resume them.
"""
import os
from collections import OrderedDict

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

_BUFFER = '__history_buffer__'
_ARRAY = '__ndarray__'


def to_plain(obj):
    """Return ``obj`` with HistoryBuffers and numpy values made plain."""
    if isinstance(obj, HistoryBuffer):
        logs, counts = obj.data
        return {
            _BUFFER: True,
            'log': torch.from_numpy(np.array(logs, dtype=np.float64)),
            'count': torch.from_numpy(np.array(counts, dtype=np.float64)),
            'max_length': int(obj.max_length),
        }
    if isinstance(obj, np.ndarray):
        return {_ARRAY: torch.from_numpy(np.ascontiguousarray(obj))}
    if isinstance(obj, np.generic):
        return obj.item()
    if type(obj) in (dict, OrderedDict):
        return type(obj)((k, to_plain(v)) for k, v in obj.items())
    if type(obj) in (list, tuple):
        return type(obj)(to_plain(v) for v in obj)
    return obj


def from_plain(obj):
    """Inverse of :func:`to_plain`."""
    if type(obj) in (dict, OrderedDict):
        if obj.get(_BUFFER) is True:
            return HistoryBuffer(obj['log'].numpy().tolist(),
                                 obj['count'].numpy().tolist(),
                                 obj['max_length'])
        if set(obj) == {_ARRAY}:
            return obj[_ARRAY].numpy()
        return type(obj)((k, from_plain(v)) for k, v in obj.items())
    if type(obj) in (list, tuple):
        return type(obj)(from_plain(v) for v in obj)
    return obj


def save_atomically(checkpoint: dict, filename: str) -> None:
    """``torch.save`` to a temporary file next to ``filename``, then rename:
    a process killed mid-write never leaves a cut-off file under the final
    name."""
    partial = filename + '.partial'
    torch.save(checkpoint, partial)
    os.replace(partial, filename)
