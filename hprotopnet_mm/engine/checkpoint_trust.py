"""Which checkpoints may be unpickled in full, and which stay weights-only.

PyTorch >= 2.6 loads with ``weights_only=True`` by default. A plain MMEngine
Runner's checkpoints hold a message hub (``HistoryBuffer``), numpy arrays and
other pickled objects, so loading them weights-only fails. Allow-listing
those classes globally would also allow them in any downloaded file. The rule
instead:

* every load is weights-only (``load_from``, ``init_cfg=dict(type=
  'Pretrained')``, ``tools/test.py``, ``tools/explain.py``, ``--resume``).
  ``HProtoRunner`` writes its checkpoints in plain types, so they pass.
* a file that needs arbitrary unpickling is refused with a message naming
  it, except when it is being **resumed** (``--resume``): resuming asks to
  continue one's own run (for example one started by a plain MMEngine
  Runner), so that file alone is loaded in full. Only resume checkpoints you
  or your runs wrote.
"""
import os.path as osp
import pickle

import torch
from mmengine.runner.checkpoint import CheckpointLoader, load_from_local


class UntrustedCheckpointError(RuntimeError):
    """A checkpoint needs full unpickling but was not marked as trusted."""


def refusal(filename: str, err: Exception) -> UntrustedCheckpointError:
    """The error for a file that weights-only loading cannot read."""
    return UntrustedCheckpointError(
        f'refused to load {filename}: it contains pickled Python objects '
        'that weights-only loading does not allow, and unpickling them '
        'could run code. Weights from elsewhere (load_from, Pretrained '
        'init_cfg) are always loaded weights-only. If you trust the file, '
        'convert it once with tools/convert_checkpoint.py, which keeps '
        f'only its state_dict. ({err.__class__.__name__}: '
        f'{str(err).splitlines()[0]})')


@CheckpointLoader.register_scheme(prefixes='', force=True)
def _load_local_weights_only(filename, map_location):
    """MMEngine's loader for local paths, with a refusal that names the file.

    Registered for every MMEngine checkpoint load, so ``Pretrained``
    ``init_cfg`` and ``load_checkpoint`` name the refused file too.
    """
    try:
        return load_from_local(filename, map_location)
    except pickle.UnpicklingError as err:
        raise refusal(filename, err) from err


def load_trusted_checkpoint(filename: str, map_location='cpu') -> dict:
    """Load a local checkpoint written by this project's own Runner in full.

    Args:
        filename (str): Path of a local checkpoint file.
        map_location: As for :func:`torch.load`.
    """
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint to resume not found: {filename}')
    return torch.load(filename, map_location=map_location, weights_only=False)


def load_untrusted_checkpoint(filename: str, map_location='cpu') -> dict:
    """Load someone else's checkpoint with ``weights_only=True``.

    Accepts every location MMEngine accepts (local path, URL,
    ``open-mmlab://`` ...). Raises :class:`UntrustedCheckpointError` naming the
    file when it holds pickled objects beyond tensors and plain containers.
    """
    try:
        return CheckpointLoader.load_checkpoint(filename, map_location)
    except pickle.UnpicklingError as err:  # remote schemes
        raise refusal(filename, err) from err
