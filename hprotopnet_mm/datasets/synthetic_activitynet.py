"""A small ActivityNet look-alike: the official file's schema, real mp4s.

For tests and the data-loading benchmark: :func:`write_synthetic_activitynet`
writes an annotation file in the schema of ``activity_net.v1-3.min.json``
(``database`` and ``taxonomy``) and one generated video per present video
id, ``<video_dir>/v_<id>.mp4``, at a known frame rate. Every frame carries
its own index as a binary code of black and white blocks
(:func:`frame_code_frames`), which survives mp4 compression and tells which
frames a pipeline decoded (:func:`read_frame_codes`). :func:`cut_segment`
writes frames ``[first, stop)`` of a video to a file of their own, the
"cut every segment" preparation the dataset replaces.

:data:`SYNTHETIC_TAXONOMY` has the quirks of the real taxonomy: names with
commas, a name with a trailing space, leaves four levels below the root and
one leaf only three levels below it.
"""
import json
import os
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np

CODE_BITS = 16  # frame indices below 65536
CODE_ROWS = 2  # rows of code blocks at the top of the frame

# (nodeId, nodeName, parentId); the root's parent is None.
_NODES = (
    (0, 'Root', None),
    (1, 'Sports, Exercise, and Recreation', 0),
    (2, 'Participating in Sports, Exercise, or Recreation', 1),
    (3, 'Racquet sports ', 2),
    (4, 'Water sports', 2),
    (5, 'Household Activities', 0),
    (6, 'Lawn, Garden, and Houseplants', 5),
    (7, 'Lawn care', 6),
    (8, 'Exterior Maintenance, Repair, & Decoration', 5),
    (10, 'Playing squash', 3),
    (11, 'Tennis serve with ball bouncing', 3),
    (12, 'Kayaking', 4),
    (13, 'Surfing', 4),
    (14, 'Mowing the lawn', 7),
    (15, 'Raking leaves', 7),
    (16, 'Painting fence', 8),
)
_NAMES = {node_id: name for node_id, name, _ in _NODES}
SYNTHETIC_TAXONOMY: List[dict] = [
    dict(
        nodeId=node_id,
        nodeName=name,
        parentId=parent,
        parentName=None if parent is None else _NAMES[parent])
    for node_id, name, parent in _NODES
]


@dataclass(frozen=True)
class SyntheticVideo:
    """One video of the synthetic database.

    Attributes:
        video_id (str): Id in the database (file ``v_<id>.mp4``).
        num_frames (int): Frames written.
        fps (float): Frame rate of the file.
        segments (tuple): ``(start, end, label)`` per annotation, seconds.
        subset (str): ``training`` or ``validation``.
        present (bool): Write the file (False: a video gone from YouTube).
        duration (float, optional): Annotated duration in seconds; defaults
            to the real one.
    """
    video_id: str
    num_frames: int
    fps: float
    segments: Tuple[Tuple[float, float, str], ...]
    subset: str = 'training'
    present: bool = True
    duration: Optional[float] = None


@dataclass(frozen=True)
class SyntheticActivityNet:
    """Paths of a written synthetic ActivityNet (absolute)."""
    ann_file: str
    video_dir: str
    videos: Tuple[SyntheticVideo, ...] = field(default_factory=tuple)

    def path(self, video_id: str) -> str:
        return osp.join(self.video_dir, f'v_{video_id}.mp4')


def frame_code_frames(num_frames: int,
                      height: int = 64,
                      width: int = 64,
                      seed: int = 0,
                      chunk: int = 256,
                      first: int = 0) -> Iterator[np.ndarray]:
    """Frames that show their own index, over a moving scene.

    The top ``CODE_ROWS`` rows of square blocks (``width / 8`` px) hold the
    frame index in binary, black for 0 and white for 1, least significant
    bit first. Below, like in a filmed scene, a smooth random texture pans
    slowly (camera motion), a bright square moves over it and sensor noise
    changes every frame, so that an encoder spends bits on motion and detail
    as on real footage.

    Frame ``i`` depends only on ``i`` and ``seed``: ``first`` starts the
    video at frame ``first`` of the same scene (a cut of a longer video).

    Yields:
        np.ndarray: (n, height, width, 3) uint8 RGB, ``chunk`` frames at a
        time (long videos need not fit in memory), frames ``first`` to
        ``first + num_frames - 1``.
    """
    block = width // 8
    if width % 8 or height % 2 or height < (CODE_ROWS + 2) * block:
        raise ValueError(f'frames of {width}x{height}: the width must be a '
                         'multiple of 8 and the height even and >= '
                         f'{CODE_ROWS + 2} blocks')
    if not (num_frames >= 1 and 0 <= first
            and first + num_frames <= 2**CODE_BITS):
        raise ValueError(f'frames [{first}, {first + num_frames}) must lie '
                         f'in [0, {2**CODE_BITS})')
    rng = np.random.default_rng(seed)
    pan = max(4, width // 8)  # largest camera shift in pixels
    coarse = rng.uniform(30, 200, (height // 8 + 2, width // 8 + 2, 3))
    texture = cv2.resize(
        coarse, (width + 2 * pan, height + 2 * pan),
        interpolation=cv2.INTER_CUBIC)
    noise = rng.normal(0, 4, (16, height, width, 3))
    side, top = 2 * block, CODE_ROWS * block
    stop = first + num_frames
    for start in range(first, stop, chunk):
        frames = np.empty((min(chunk, stop - start), height, width, 3),
                          np.uint8)
        for i, frame in enumerate(frames, start=start):
            dy = int(pan * (1 + np.sin(i / 70)))
            dx = int(pan * (1 + np.cos(i / 50)))
            scene = texture[dy:dy + height, dx:dx + width] + noise[i % 16]
            frame[:] = np.clip(scene, 0, 255)
            cy = top + (height - top - side) * (0.5 + 0.45 * np.sin(i / 9))
            cx = (width - side) * (0.5 + 0.45 * np.cos(i / 13))
            frame[int(cy):int(cy) + side, int(cx):int(cx) + side] = 230
            for bit in range(CODE_BITS):
                row, col = divmod(bit, 8)
                frame[row * block:(row + 1) * block,
                      col * block:(col + 1) * block] = 255 * ((i >> bit) & 1)
        yield frames


def write_frames(path: str, chunks: Iterable[np.ndarray], fps: float) -> None:
    """Write chunks of RGB frames, (n, H, W, 3) uint8 each, to one mp4 file
    (:func:`~.toy_videos.write_video` for videos that do not fit in
    memory)."""
    writer = None
    try:
        for frames in chunks:
            if writer is None:
                height, width = frames.shape[1:3]
                writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'),
                                         fps, (width, height))
                if not writer.isOpened():
                    raise OSError(f'{path}: OpenCV could not open an mp4v '
                                  'video writer')
            for frame in frames:
                writer.write(np.ascontiguousarray(frame[..., ::-1]))
    finally:
        if writer is not None:
            writer.release()
    if writer is None or not osp.isfile(path) or osp.getsize(path) == 0:
        raise OSError(f'{path}: no video data written')


def read_frame_codes(frames: np.ndarray) -> List[int]:
    """The indices shown by frames of :func:`frame_code_frames` (after
    decoding, at their original size).

    Args:
        frames (np.ndarray): (T, H, W, 3) RGB.
    """
    frames = np.asarray(frames, dtype=np.float64)
    block = frames.shape[2] // 8
    codes = []
    for frame in frames:
        value = 0
        for bit in range(CODE_BITS):
            row, col = divmod(bit, 8)
            cell = frame[row * block:(row + 1) * block,
                         col * block:(col + 1) * block]
            value |= int(cell.mean() > 127.5) << bit
        codes.append(value)
    return codes


def write_synthetic_activitynet(out_dir: str,
                                videos: Sequence[SyntheticVideo],
                                taxonomy: Sequence[dict] = SYNTHETIC_TAXONOMY,
                                height: int = 64,
                                width: int = 64) -> SyntheticActivityNet:
    """Write ``out_dir/activity_net.json`` and ``out_dir/videos/v_<id>.mp4``.

    Args:
        out_dir (str): Output folder (created).
        videos (Sequence[SyntheticVideo]): The database.
        taxonomy (Sequence[dict]): The ``taxonomy`` list.
        height (int): Frame height of the videos.
        width (int): Frame width of the videos.

    Returns:
        SyntheticActivityNet: The paths.
    """
    video_dir = osp.join(out_dir, 'videos')
    os.makedirs(video_dir, exist_ok=True)
    database: Dict[str, dict] = {}
    for number, video in enumerate(videos):
        seconds = video.num_frames / video.fps
        database[video.video_id] = dict(
            subset=video.subset,
            duration=round(video.duration or seconds, 2),
            resolution=f'{width}x{height}',
            url=f'https://www.youtube.com/watch?v={video.video_id}',
            annotations=[
                dict(segment=[start, end], label=label)
                for start, end, label in video.segments
            ])
        if video.present:
            write_frames(
                osp.join(video_dir, f'v_{video.video_id}.mp4'),
                frame_code_frames(video.num_frames, height, width, number),
                video.fps)
    ann_file = osp.join(out_dir, 'activity_net.json')
    with open(ann_file, 'w', encoding='utf-8') as f:
        json.dump(
            dict(
                version='VERSION 1.3',
                taxonomy=list(taxonomy),
                database=database), f)
    return SyntheticActivityNet(ann_file, video_dir, tuple(videos))


def cut_segment(src: str, first: int, stop: int, dst: str) -> None:
    """Write frames ``[first, stop)`` of a video to a file of their own, at
    the same frame rate (decoded with decord, written with OpenCV).

    Args:
        src (str): The video.
        first (int): First frame kept.
        stop (int): Frame after the last one kept.
        dst (str): The cut file (.mp4).
    """
    import decord
    reader = decord.VideoReader(src, num_threads=1)
    if not 0 <= first < stop <= len(reader):
        raise ValueError(f'{src}: frames [{first}, {stop}) are not inside '
                         f'its {len(reader)} frames')
    chunks = (
        reader.get_batch(list(range(i, min(i + 256, stop)))).asnumpy()
        for i in range(first, stop, 256))
    write_frames(dst, chunks, reader.get_avg_fps())
