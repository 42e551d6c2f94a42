"""The models and synthetic data the benchmark measures: recognizers of the
project's model configs with each head, at UCF-101 and ActivityNet size."""
import copy
import math
import os.path as osp
from typing import Dict, List, Sequence

import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from hprotopnet_mm.hierarchy import (HIERARCHY_FILES_DIR, ClassHierarchy,
                                     HyperbolicEmbedding, save_embedding)
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MODEL_CONFIG_DIR = osp.join(REPO_ROOT, 'configs', '_base_', 'models')
MODEL_CONFIG = osp.join(MODEL_CONFIG_DIR, 'r3d18.py')
SCHEDULE_CONFIG = osp.join(REPO_ROOT, 'configs', '_base_', 'schedules',
                           'hproto.py')
DATASETS = ('ucf101', 'activitynet')
HEADS = ('i3d', 'hproto', 'hproto_cpg')
HEAD_NAMES = dict(
    i3d='I3DHead',
    hproto='HierarchicalProtoHead',
    hproto_cpg='HierarchicalProtoHead CPG')
# Embedding settings of the shipped files (tools/embed_hierarchy.py
# defaults); used for random stand-ins when a file is not there.
EMBEDDING_DIM = 300
EMBEDDING_CURVATURE = 0.02


class FeatureMapInput(nn.Module):
    """Backbone stand-in whose inputs already are backbone feature maps."""

    def forward(self, x: Tensor) -> Tensor:
        return x


MODELS.register_module(module=FeatureMapInput, force=True)


def hierarchy_files(dataset: str, folder: str, seed: int) -> Dict[str, str]:
    """Hierarchy, label map and embedding file of a dataset.

    The shipped embedding when it is there; otherwise random points of a
    ball of the shipped files' dimension and curvature, written to
    ``folder`` (the cost of the head does not depend on where the points
    are).
    """
    hierarchy_file = osp.join(HIERARCHY_FILES_DIR, f'{dataset}_hierarchy.csv')
    label_map_file = osp.join(HIERARCHY_FILES_DIR, f'{dataset}_label_map.txt')
    embedding_file = osp.join(HIERARCHY_FILES_DIR,
                              f'{dataset}_embedding_d{EMBEDDING_DIM}.pth')
    source = 'shipped'
    if not osp.isfile(embedding_file):
        hierarchy = ClassHierarchy.from_files(hierarchy_file, label_map_file)
        generator = torch.Generator().manual_seed(seed)
        direction = torch.randn(
            hierarchy.num_nodes, EMBEDDING_DIM, generator=generator)
        radius = (0.2 + 0.7 *
                  torch.rand(hierarchy.num_nodes, 1, generator=generator)
                  ) / math.sqrt(EMBEDDING_CURVATURE)
        points = direction / direction.norm(dim=1, keepdim=True) * radius
        embedding_file = osp.join(folder, f'{dataset}_random.pth')
        save_embedding(
            embedding_file,
            HyperbolicEmbedding.from_hierarchy(
                hierarchy, points, EMBEDDING_CURVATURE,
                dict(source='random points for benchmarking')))
        source = 'random points (shipped file missing)'
    return dict(
        hierarchy_file=hierarchy_file,
        label_map_file=label_map_file,
        embedding_file=embedding_file,
        embedding_source=source)


def head_config(head: str, files: Dict[str, str], num_classes: int,
                in_channels: int) -> Dict:
    """Config of the classification head ``head`` (one of ``HEADS``): the
    head of the project's model config, sized for the dataset. Both heads
    average clip probabilities, so inference compares like with like."""
    name = 'r3d18_i3dhead.py' if head == 'i3d' else 'r3d18_hproto.py'
    cfg = Config.fromfile(osp.join(MODEL_CONFIG_DIR, name)).model.cls_head
    cfg.update(
        num_classes=num_classes, in_channels=in_channels, average_clips='prob')
    if head != 'i3d':
        cfg.update(
            hierarchy_file=files['hierarchy_file'],
            label_map_file=files['label_map_file'],
            embedding_file=files['embedding_file'],
            num_prototypes_per_class=10,
            num_prototypes_per_ancestor=10 if head == 'hproto_cpg' else 0)
    return cfg.to_dict()


def recognizer_config(model_config: str, head_cfg: Dict,
                      base_channels: int) -> Dict:
    """The recognizer of ``model_config`` (by default the R3D-18 of
    ``configs/_base_/models/r3d18.py``) with the given head and width."""
    cfg = copy.deepcopy(Config.fromfile(model_config).model.to_dict())
    cfg['backbone']['base_channels'] = base_channels
    cfg['cls_head'] = head_cfg
    return cfg


def build_model(cfg: Dict, device: str, seed: int) -> nn.Module:
    """Build from the registry; the same seed gives the same backbone."""
    torch.manual_seed(seed)
    return MODELS.build(copy.deepcopy(cfg)).to(device)


def synthetic_samples(indices: Sequence[int],
                      num_classes: int) -> List[ActionDataSample]:
    samples = []
    for index in indices:
        sample = ActionDataSample()
        sample.set_gt_label(index % num_classes)
        sample.set_metainfo(dict(filename=f'synthetic_{index:05d}'))
        samples.append(sample)
    return samples


class SyntheticClips(Dataset):
    """N deterministic random clips (uint8, as decoded videos) or backbone
    feature maps (non-negative float32), packed like MMAction2's
    ``PackActionInputs`` output: ``inputs`` (1, C, T, H, W) and a data
    sample with a label and a file name."""

    def __init__(self, num_clips: int, shape: Sequence[int], num_classes: int,
                 features: bool, seed: int) -> None:
        self.num_clips = num_clips
        self.shape = (1, ) + tuple(shape)
        self.num_classes = num_classes
        self.features = features
        self.seed = seed

    def __len__(self) -> int:
        return self.num_clips

    def __getitem__(self, index: int) -> Dict:
        generator = torch.Generator().manual_seed(self.seed + index)
        if self.features:
            inputs = torch.randn(self.shape, generator=generator).relu_()
        else:
            inputs = torch.randint(
                0, 256, self.shape, dtype=torch.uint8, generator=generator)
        return dict(
            inputs=inputs,
            data_samples=synthetic_samples([index], self.num_classes)[0])


def clip_loader(dataset: Dataset, batch_size: int) -> DataLoader:
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        collate_fn=pseudo_collate)
