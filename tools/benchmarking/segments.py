"""Figure 5 of the benchmark: ActivityNet segments loaded from their
untrimmed videos against the same segments cut to files of their own."""
import itertools
import os
import os.path as osp
import random
import time
from typing import Callable, Dict, List

import numpy as np
from mmengine.config import Config

from hprotopnet_mm.datasets import (SYNTHETIC_TAXONOMY, SyntheticVideo,
                                    segment_frame_range,
                                    write_synthetic_activitynet)
from hprotopnet_mm.datasets.activitynet_dataset import DEFAULT_LABEL_MAP
from hprotopnet_mm.datasets.synthetic_activitynet import (frame_code_frames,
                                                          write_frames)
from hprotopnet_mm.hierarchy import ClassHierarchy
from mmaction.registry import DATASETS as DATASET_REGISTRY
from .models import REPO_ROOT
from .timing import interleaved_times, paired_figure

ACTIVITYNET_DATA_CONFIG = osp.join(REPO_ROOT, 'configs', '_base_', 'datasets',
                                   'activitynet.py')


def synthetic_activitynet_videos(args) -> List[SyntheticVideo]:
    """Videos of ``--segment-video-seconds`` at 30 fps (ActivityNet's mean
    length is about two minutes) with 1, 2 or 3 segments (probabilities
    0.6, 0.3, 0.1: 1.5 per video, as in ActivityNet), each of 10-60 s
    (at most its share of the video), in the order of the video."""
    names = {n['parentId'] for n in SYNTHETIC_TAXONOMY}
    labels = [
        n['nodeName'] for n in SYNTHETIC_TAXONOMY if n['nodeId'] not in names
    ]
    rng = random.Random(args.seed)
    videos = []
    for index in range(args.segment_videos):
        seconds = args.segment_video_seconds
        count = rng.choices((1, 2, 3), (0.6, 0.3, 0.1))[0]
        slot = seconds / count
        segments = []
        for k in range(count):
            length = min(rng.uniform(10, 60), 0.9 * slot)
            start = k * slot + rng.uniform(0, slot - length)
            label = rng.choice(labels)
            segments.append((round(start, 2), round(start + length, 2), label))
        videos.append(
            SyntheticVideo(f'video{index:03d}', round(seconds * 30), 30.0,
                           tuple(segments)))
    return videos


def every_sample_loader(dataset, seed: int) -> Callable[[], None]:
    """A function that runs the pipeline on every sample of ``dataset``;
    its k-th call seeds numpy with ``seed + k`` (random clips differ from
    round to round, and two loaders called once per round see the same
    seeds)."""
    calls = itertools.count(seed)

    def load() -> None:
        np.random.seed(next(calls))
        for index in range(len(dataset)):
            dataset[index]

    return load


def write_cut_segments(videos: List[SyntheticVideo], folder: str, height: int,
                       width: int) -> str:
    """Every segment of ``videos`` as a file of its own, frames
    ``[first, stop)`` rendered from the scene of its video; returns the
    annotation list of the cut files (``path label`` per line)."""
    class_names = ClassHierarchy.read_label_map(DEFAULT_LABEL_MAP)
    cut_dir = osp.join(folder, 'cut_segments')
    os.makedirs(cut_dir)
    lines = []
    for number, video in enumerate(videos):
        for k, (start, end, label) in enumerate(video.segments):
            first, stop, _ = segment_frame_range(start, end, video.fps,
                                                 video.num_frames)
            cut = osp.join(cut_dir, f'{video.video_id}_{k}.mp4')
            write_frames(
                cut,
                frame_code_frames(
                    stop - first, height, width, seed=number, first=first),
                video.fps)
            lines.append(f'{cut} {class_names.index(label)}')
    cut_list = osp.join(folder, 'cut_segments.txt')
    with open(cut_list, 'w') as f:
        f.writelines(line + '\n' for line in lines)
    return cut_list


def figure_segment_loading(args, folder: str) -> Dict[str, Dict]:
    """Figure 5: loading every segment of a synthetic ActivityNet from the
    untrimmed videos (``ActivityNetSegmentDataset``) against loading the
    same segments cut to files of their own (``CheckedVideoDataset`` over a
    list of the cut files), both through the ActivityNet config's train and
    test pipelines, with the same random state in a round. A cut file holds
    frames ``[first, stop)`` of its segment, rendered from the same scene
    and written with the same encoder and frame rate as the videos (the
    same bits per frame; its keyframes restart at the cut, as after any
    cut that re-encodes)."""
    height, width = args.segment_frame_size
    videos = synthetic_activitynet_videos(args)
    anet = write_synthetic_activitynet(
        osp.join(folder, 'activitynet'), videos, height=height, width=width)
    cut_list = write_cut_segments(videos, folder, height, width)
    data_cfg = Config.fromfile(ACTIVITYNET_DATA_CONFIG)
    figures, build_seconds = {}, None
    for stage in ('train', 'test'):
        pipeline = data_cfg[f'{stage}_pipeline']
        start = time.process_time()
        segments = DATASET_REGISTRY.build(
            dict(
                type='ActivityNetSegmentDataset',
                ann_file=anet.ann_file,
                data_prefix=dict(video=anet.video_dir),
                pipeline=pipeline,
                progress=False))
        if build_seconds is None:  # the first build opens every video
            build_seconds = time.process_time() - start
        cut = DATASET_REGISTRY.build(
            dict(
                type='CheckedVideoDataset',
                ann_file=cut_list,
                pipeline=pipeline,
                progress=False))
        if len(segments) != len(cut):
            raise RuntimeError(f'{len(segments)} segments but {len(cut)} '
                               'cut files')
        times = interleaved_times(
            dict(
                segments=every_sample_loader(segments, args.seed),
                cut_files=every_sample_loader(cut, args.seed)), args.warmup,
            args.repeats, 'cpu', f'segment loading ({stage})')
        figures[f'segment_loading/{stage}'] = paired_figure(
            times,
            'segments',
            'cut_files',
            args.clock,
            what=f'{stage} pipeline over {len(segments)} segments of '
            f'{len(videos)} videos ({args.segment_video_seconds:g} s, '
            f'{width}x{height}, 30 fps) read from the videos',
            baseline='the same segments cut to files of their own',
            num_segments=len(segments),
            num_videos=len(videos),
            build_seconds=build_seconds)
    return figures
