"""The feature map of every clip of the projection data, one clip at a time,
with the provenance of the clip.

Every clip runs through the model on its own (``clips_per_forward=1``), so
its feature map does not depend on the clips that share its batch, nor on
the batch size or the number of processes. The explanation code, which
decodes one training clip again, gets exactly the same feature map.
"""
import contextlib
import sys
from dataclasses import dataclass
from typing import Iterator, List, Optional, Tuple

import numpy as np
import torch
from mmengine import dist
from mmengine.utils import ProgressBar
from torch import Tensor, nn

from hprotopnet_mm.datasets import STAND_IN_KEY


@dataclass
class ClipSource:
    """Where a clip of the projection data comes from.

    Attributes:
        dataset_index (int): Index of the sample in the dataset.
        filename (str, optional): Its video file.
        frame_inds (list[int], optional): Frames the pipeline sampled.
        num_views (int): Views (clips) the pipeline made of the sample.
        label (int): The sample's leaf label.
    """
    dataset_index: int
    filename: Optional[str]
    frame_inds: Optional[List[int]]
    num_views: int
    label: int


def fixed_batch_indices(dataloader) -> List[List[int]]:
    """Dataset indices of every batch the dataloader will yield.

    Projection needs the global dataset index of every clip (for provenance
    and tie-breaking), taken from the batch sampler, so the sampler must
    yield the same batches on every pass (any fixed order will do; ties go
    by dataset index, not by order). This reads it twice and refuses one
    that reshuffles.

    Args:
        dataloader (DataLoader): A dataloader with a batch sampler.

    Returns:
        list[list[int]]: One list of dataset indices per batch.
    """
    batch_sampler = getattr(dataloader, 'batch_sampler', None)
    if batch_sampler is None:
        raise ValueError('prototype projection needs a dataloader with a '
                         'batch sampler (batch_size set), got none')
    first = [list(map(int, batch)) for batch in batch_sampler]
    second = [list(map(int, batch)) for batch in batch_sampler]
    if first != second:
        raise ValueError(
            'the projection dataloader visits its clips in a different order '
            'on every pass, so its clips cannot be matched to dataset '
            "indices; use sampler=dict(type='DefaultSampler', shuffle=False)")
    return first


def clip_feature_maps(model: nn.Module,
                      data_batch: dict,
                      clips_per_forward: int = 1) -> Tuple[Tensor, int, list]:
    """Feature maps ``z`` of every clip (view) of a batch, in eval mode.

    Args:
        model (nn.Module): The recognizer (not a wrapper), in eval mode.
        data_batch (dict): A batch from the dataloader (``inputs``,
            ``data_samples``).
        clips_per_forward (int): Clips the model sees at once; 1 makes every
            feature map independent of batching.

    Returns:
        tuple: ``z`` (N * V, C, T, H, W) with the V views of each sample
        consecutive, V, and the N data samples.
    """
    data = model.data_preprocessor(data_batch, training=False)
    inputs, data_samples = data['inputs'], data['data_samples']
    if inputs.dim() != 6:
        raise ValueError(
            'prototype projection expects 3D clips of shape (N, views, C, '
            f'T, H, W) from the data preprocessor, got {tuple(inputs.shape)}')
    num_views = inputs.shape[1]
    clips = inputs.flatten(0, 1)
    head = model.cls_head
    maps = []
    for start in range(0, clips.shape[0], clips_per_forward):
        part = clips[start:start + clips_per_forward].unsqueeze(1)
        feats, _ = model.extract_feat(part, test_mode=True)
        maps.append(head.forward_features(feats))
    return torch.cat(maps), num_views, data_samples


def sample_source(sample, dataset, index: int, num_views: int) -> ClipSource:
    """Provenance of a data sample: file, frames, label."""
    meta = sample.metainfo
    filename = meta.get('filename')
    if filename is None and hasattr(dataset, 'get_data_info'):
        filename = dataset.get_data_info(index).get('filename')
    frame_inds = meta.get('frame_inds')
    if frame_inds is not None:
        frame_inds = [int(i) for i in np.asarray(frame_inds).reshape(-1)]
    label = sample.gt_label
    if label.numel() != 1:
        raise ValueError(
            f'prototype projection needs one integer label per clip; sample '
            f'{index} ({filename}) has gt_label of shape '
            f'{tuple(label.shape)}')
    return ClipSource(
        dataset_index=index,
        filename=filename,
        frame_inds=frame_inds,
        num_views=num_views,
        label=int(label.reshape(-1)[0]))


def iterate_clips(model: nn.Module, dataloader, clips_per_forward: int,
                  progress: bool) -> Iterator[Tuple[Tensor, ClipSource, int]]:
    """Yield ``(z, source, view)`` for every clip of this process's shard,
    except stand-ins (samples that replace a video that failed to decode,
    ``CheckedVideoDataset`` with ``on_bad_video='skip'``).

    Args:
        model (nn.Module): The recognizer (not a wrapper), in eval mode.
        dataloader (DataLoader): The projection dataloader.
        clips_per_forward (int): Clips the model sees at once.
        progress (bool): Show a progress bar on the main process.
    """
    if clips_per_forward < 1:
        raise ValueError(
            f'clips_per_forward must be >= 1, got {clips_per_forward}')
    batches = fixed_batch_indices(dataloader)
    bar = None
    if progress and dist.is_main_process():
        bar = ProgressBar(sum(len(b) for b in batches), file=sys.stdout)
    seen = 0
    for data_batch in dataloader:
        if seen == len(batches):
            raise RuntimeError('the projection dataloader yielded more '
                               'batches than its batch sampler holds')
        indices = batches[seen]
        seen += 1
        z, num_views, samples = clip_feature_maps(model, data_batch,
                                                  clips_per_forward)
        if len(samples) != len(indices):
            raise RuntimeError(
                f'batch {seen - 1} of the projection dataloader holds '
                f'{len(samples)} samples, its batch sampler {len(indices)}')
        for i, (sample, index) in enumerate(zip(samples, indices)):
            if sample.metainfo.get(STAND_IN_KEY):
                continue  # its video failed to decode; the stand-in is
                # another clip of the dataset, searched at its own index
            source = sample_source(sample, dataloader.dataset, index,
                                   num_views)
            for view in range(num_views):
                yield z[i * num_views + view], source, view
        if bar is not None:
            for _ in indices:
                bar.update()
    if seen != len(batches):
        raise RuntimeError(
            f'the projection dataloader yielded {seen} batches, its batch '
            f'sampler holds {len(batches)}')
    if bar is not None:
        sys.stdout.write('\n')


@contextlib.contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """Put ``module`` in eval mode; restore every submodule's mode after."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for m, training in modes:
            m.training = training
