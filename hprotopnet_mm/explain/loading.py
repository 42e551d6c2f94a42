"""Recognizer, pipelines and clips for explanations.

* :func:`load_recognizer` builds the model of a config and loads a
  checkpoint weights-only.
* :func:`find_test_pipeline` / :func:`find_projection_pipeline` find the
  pipelines that decode a test video and a training video exactly as
  testing and prototype projection did.
* :func:`load_clips` runs a video file through a pipeline (MMAction2's
  transforms, e.g. ``DecordInit``, ``SampleFrames``, ``DecordDecode``),
  after checking that decord can read it; :class:`VideoReadError` names a
  file it cannot read.
"""
import argparse
import copy
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.runner.checkpoint import _load_checkpoint_to_model
from torch import Tensor, nn

from hprotopnet_mm.engine.checkpoint_format import from_plain
from hprotopnet_mm.engine.checkpoint_trust import load_untrusted_checkpoint
from hprotopnet_mm.engine.preflight import (MissingPathError,
                                            missing_config_paths)


class VideoReadError(OSError):
    """A video file is missing or cannot be decoded."""


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options every explanation tool shares to its parser:
    ``--device`` and ``--cfg-options`` (read by :func:`load_config`)."""
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, xxx=yyy')


def load_config(config: str, cfg_options: Optional[dict] = None) -> Config:
    """Read a config (importing its ``custom_imports``) and set the default
    registry scope.

    Args:
        config (str): Config file.
        cfg_options (dict, optional): Overrides merged into the config.
    """
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    missing = [(key, path) for key, path in missing_config_paths(cfg, 'test')
               if key.startswith('model.')]
    if missing:
        lines = '\n'.join(f'  {key} = {path}' for key, path in missing)
        raise MissingPathError(
            f'{config}: the model names {len(missing)} missing file(s):\n'
            f'{lines}')
    return cfg


def load_recognizer(cfg: Config,
                    checkpoint: str,
                    device: str = 'cpu') -> nn.Module:
    """Build ``cfg.model`` and load ``checkpoint`` into it, weights-only.

    Args:
        cfg (Config): From :func:`load_config`.
        checkpoint (str): Checkpoint file (``state_dict`` with the head's
            prototype provenance in ``cls_head._extra_state``).
        device (str): Device of the model.

    Returns:
        nn.Module: The recognizer in eval mode.
    """
    from mmaction.registry import MODELS

    if '://' not in checkpoint and not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {checkpoint}')
    model = MODELS.build(copy.deepcopy(cfg.model))
    state = from_plain(
        load_untrusted_checkpoint(checkpoint, map_location='cpu'))
    try:
        _load_checkpoint_to_model(model, state, strict=True)
    except RuntimeError as err:
        raise RuntimeError(f'{checkpoint} does not fit the model of the '
                           f'config: {err}') from err
    return model.to(device).eval()


def _dataset_pipeline(cfg: Config, loader_key: str) -> Optional[list]:
    loader = cfg.get(loader_key) or {}
    dataset = loader.get('dataset') or {}
    while 'pipeline' not in dataset and 'dataset' in dataset:  # wrappers
        dataset = dataset['dataset']
    return dataset.get('pipeline')


def find_test_pipeline(cfg: Config) -> Tuple[list, str]:
    """The pipeline that decodes a test video, and where it was found.

    ``test_dataloader.dataset.pipeline`` (what ``tools/test.py`` runs), else
    the top-level ``test_pipeline``.
    """
    pipeline = _dataset_pipeline(cfg, 'test_dataloader')
    if pipeline is not None:
        return list(pipeline), 'test_dataloader.dataset.pipeline'
    if cfg.get('test_pipeline') is not None:
        return list(cfg.test_pipeline), 'test_pipeline'
    raise KeyError(f'{cfg.filename}: no test_dataloader.dataset.pipeline and '
                   'no test_pipeline')


def find_projection_pipeline(cfg: Config) -> Tuple[Optional[list], dict]:
    """The pipeline and dataset settings prototype projection decoded the
    training clips with.

    The ``dataloader`` of the config's ``PrototypeProjectionHook`` if set,
    else the top-level ``projection_dataloader``.

    Returns:
        tuple: The pipeline (None if the config has none) and the dataset's
        ``start_index`` and ``modality`` (dict).
    """
    loader = None
    for hook in cfg.get('custom_hooks') or []:
        if hook.get('type') == 'PrototypeProjectionHook':
            loader = hook.get('dataloader')
    loader = loader or cfg.get('projection_dataloader') or {}
    dataset = loader.get('dataset') or {}
    while 'pipeline' not in dataset and 'dataset' in dataset:
        dataset = dataset['dataset']
    info = dict(
        start_index=dataset.get('start_index', 0),
        modality=dataset.get('modality', 'RGB'))
    pipeline = dataset.get('pipeline')
    return (list(pipeline) if pipeline is not None else None), info


def check_video(path: str) -> int:
    """Check that decord can open ``path`` and return its frame count.

    Raises:
        VideoReadError: Naming the file, when it is missing, cannot be
            decoded or has no frames.
    """
    import decord

    if not osp.isfile(path):
        raise VideoReadError(f'video file not found: {path}')
    try:
        reader = decord.VideoReader(path, num_threads=1)
        num_frames = len(reader)
        if num_frames > 0:
            reader[0]
    except (decord.DECORDError, RuntimeError) as err:
        raise VideoReadError(
            f'cannot decode video file {path} with decord: '
            f'{str(err).splitlines()[0] if str(err) else type(err).__name__}'
        ) from err
    if num_frames == 0:
        raise VideoReadError(f'video file {path} has no frames')
    return num_frames


def load_clips(pipeline: Sequence[dict],
               path: str,
               label: int = -1,
               start_index: int = 0,
               modality: str = 'RGB') -> Dict:
    """Decode a video file with a pipeline.

    Args:
        pipeline (Sequence[dict]): Transform configs ending with
            ``PackActionInputs``.
        path (str): Video file.
        label (int): Label put in the data info (-1: unknown).
        start_index (int): Index of the first frame, as the dataset's.
        modality (str): As the dataset's.

    Returns:
        dict: ``inputs`` (V, C, T, H, W) raw pixel values (RGB, after
        resizing and cropping) and ``data_samples``.
    """
    check_video(path)
    transforms = Compose([copy.deepcopy(dict(t)) for t in pipeline])
    return transforms(
        dict(
            filename=path,
            label=label,
            start_index=start_index,
            modality=modality))


def preprocess(model: nn.Module, sample: Dict) -> Tuple[Tensor, Tensor]:
    """Raw clips of a sample and the model's preprocessed input.

    Args:
        model (nn.Module): The recognizer.
        sample (dict): From :func:`load_clips`.

    Returns:
        tuple[Tensor]: ``raw`` (V, C, T, H, W) float pixel values and
        ``inputs`` (V, C, T, H, W), normalised by the data preprocessor, on
        the model's device.
    """
    raw = sample['inputs']
    if raw.dim() != 5:
        raise ValueError(
            'explanations need 3D clips (FormatShape input_format NCTHW); '
            f'the pipeline gave inputs of shape {tuple(raw.shape)}')
    data = model.data_preprocessor(pseudo_collate([sample]), False)
    return raw.float(), data['inputs'][0]


def head_outputs(model: nn.Module, head: nn.Module,
                 clips: Tensor) -> Dict[str, Tensor]:
    """``forward_explain`` of a head, one clip per forward pass.

    Args:
        model (nn.Module): The recognizer, in eval mode.
        head (nn.Module): Its head (a prototype or a hyperbolic head).
        clips (Tensor): Model inputs (V, C, T, H, W).

    Returns:
        dict[str, Tensor]: The head's outputs, concatenated over clips.
    """
    device = next(model.parameters()).device
    outputs = []
    with torch.no_grad():
        for clip in clips:
            feats, _ = model.extract_feat(
                clip[None, None].to(device), test_mode=True)
            outputs.append(head.forward_explain(feats))
    return {
        key: torch.cat([o[key] for o in outputs])
        for key in outputs[0] if torch.is_tensor(outputs[0][key])
    }


def frame_indices(sample: Dict, clip: int) -> List[int]:
    """Frame indices of one clip of a decoded sample.

    Args:
        sample (dict): From :func:`load_clips`.
        clip (int): Index of the clip (view).

    Returns:
        list[int]: Its frame indices; all indices of the sample when they
        cannot be split evenly among its clips; [] when there are none.
    """
    inds = sample['data_samples'].metainfo.get('frame_inds')
    if inds is None:
        return []
    inds = [int(i) for i in np.asarray(inds).reshape(-1)]
    num_clips = sample['inputs'].shape[0]
    if len(inds) % num_clips:
        return inds
    length = len(inds) // num_clips
    return inds[clip * length:(clip + 1) * length]


def to_frames(clip: Tensor) -> np.ndarray:
    """(C, T, H, W) pixel values -> (T, H, W, 3) uint8 RGB frames."""
    if clip.shape[0] != 3:
        raise ValueError(f'expected 3-channel RGB clips, got {clip.shape[0]} '
                         'channels')
    frames = clip.detach().cpu().permute(1, 2, 3, 0)
    return frames.round().clamp(0, 255).to(torch.uint8).numpy()
