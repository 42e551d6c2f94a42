"""Distributed training on CPU-only PyTorch builds (gloo backend).

MMEngine's ``pytorch`` launcher calls ``torch.cuda.set_device(LOCAL_RANK)``
before ``init_process_group``; on a CPU-only build of PyTorch that raises.
The Runner skips its own initialisation when a process group already exists,
so on a machine without CUDA :func:`init_cpu_distributed` initialises the
gloo group itself from the variables ``torchrun`` sets, and makes the model
wrapper use no ``device_ids`` (``DistributedDataParallel`` rejects device ids
for CPU modules).

Used by ``tools/train.py`` and ``tools/test.py``::

    torchrun --nproc_per_node 2 tools/train.py CONFIG --launcher pytorch
"""
import os

import torch
import torch.distributed as dist


def init_cpu_distributed(cfg) -> bool:
    """Initialise a gloo process group when CUDA is unavailable.

    Args:
        cfg (mmengine.Config): The run's config; ``env_cfg.dist_cfg`` and
            ``model_wrapper_cfg`` are updated in place.

    Returns:
        bool: True if this function created the process group.
    """
    if torch.cuda.is_available() or dist.is_initialized():
        return False
    missing = [
        k for k in ('RANK', 'LOCAL_RANK', 'WORLD_SIZE', 'MASTER_ADDR',
                    'MASTER_PORT') if k not in os.environ
    ]
    if missing:
        raise RuntimeError(
            '--launcher pytorch needs the variables set by torchrun; missing: '
            + ', '.join(missing))
    dist_cfg = dict(cfg.get('env_cfg', {}).get('dist_cfg', {}))
    dist_cfg['backend'] = 'gloo'
    cfg.setdefault('env_cfg', {})['dist_cfg'] = dist_cfg
    timeout = dist_cfg.get('timeout')
    kwargs = {}
    if timeout is not None:
        from datetime import timedelta
        kwargs['timeout'] = timedelta(seconds=timeout)
    dist.init_process_group(backend='gloo', **kwargs)
    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    return True
