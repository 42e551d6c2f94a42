"""A video dataset that checks its annotation list before training starts.

One unreadable video stops a run of several days when the loader first
draws it; a label outside the classes of the model, or from another label
map, trains on wrong labels without a word. :class:`CheckedVideoDataset`
checks every line of the annotation list when the dataset is built:

* the line has the fields MMAction2's ``VideoDataset`` expects, with integer
  labels;
* every label is a class of the model: in ``[0, num_classes)``, where the
  number of classes comes from ``num_classes``, the label map or the class
  hierarchy; with ``path_class_pattern``, the class name found in the video
  path is the label map's name of the label;
* every video exists, decord opens it (which reads the container's packet
  index, so truncated files fail here) and it has at least ``min_frames``
  frames. Videos are opened, not decoded, by a pool of threads.

Problems are reported together, each with the annotation file, its line and
the video. Label problems always raise :class:`AnnotationError`; bad videos
raise it too unless ``on_bad_video='skip'``, which drops them from the
dataset and logs a warning listing them.
"""
import logging
import os
import os.path as osp
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.dist import is_main_process
from mmengine.fileio import list_from_file
from mmengine.logging import print_log
from mmengine.utils import ProgressBar

from mmaction.datasets import VideoDataset
from mmaction.registry import DATASETS
from hprotopnet_mm.hierarchy import ClassHierarchy

MAX_LISTED = 20  # problems spelled out in a message; the rest are counted

# Frame counts of videos that passed the check in this process, keyed by
# (path, size, modification time): datasets rebuilt during training (the
# projection and last-layer dataloaders) do not open them again.
_CHECKED_FRAMES: Dict[Tuple[str, int, int], int] = {}
# Average frame rates decord reported when it opened a video, by real path.
_FRAME_RATES: Dict[str, float] = {}


class AnnotationError(ValueError):
    """An annotation list names a bad video or a label outside the model's
    classes; the message names the file, the lines and the videos."""


def count_frames(path: str) -> int:
    """Number of frames decord reports for a video, without decoding it.

    The average frame rate decord reports is kept for
    :func:`checked_video_meta`: the same opening gives both.

    Args:
        path (str): Video file.

    Returns:
        int: The frame count.

    Raises:
        RuntimeError: decord's error when it cannot open the file.
    """
    import decord
    reader = decord.VideoReader(path, num_threads=1)
    _FRAME_RATES[osp.realpath(path)] = reader.get_avg_fps()
    return len(reader)


def checked_video_meta(path: str) -> Optional[Tuple[int, float]]:
    """Frame count and average frame rate of a video that passed
    :func:`video_problem` in this process and has not changed since, or
    None (no decord call either way)."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    key = (osp.realpath(path), stat.st_size, stat.st_mtime_ns)
    num_frames, fps = _CHECKED_FRAMES.get(key), _FRAME_RATES.get(key[0])
    if num_frames is None or fps is None:
        return None
    return num_frames, fps


def _decord_message(err: Exception, path: str) -> str:
    """First line of a decord error without its ``[time] file:line:``
    prefix and failed check, with the video's path replaced by "the
    file"."""
    lines = str(err).strip().splitlines() or [type(err).__name__]
    text = re.sub(r'^\[[\d:]+\] \S+:\d+: ', '', lines[0])
    text = text.split(' ERROR ')[-1].replace(path, 'the file')
    if text.startswith('Error reading the file'):
        # decord's message when ffmpeg cannot open the container
        text = 'no readable video container (truncated, corrupt or not a ' \
            'video)'
    return text


def video_problem(path: str, min_frames: int = 1) -> Optional[str]:
    """What is wrong with a video file, or None if it is usable.

    Args:
        path (str): Video file.
        min_frames (int): Fewest frames a usable video has.

    Returns:
        str | None: A short description of the problem.
    """
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return 'file not found'
    except OSError as err:
        return f'cannot be accessed ({err.strerror})'
    if not osp.isfile(path):
        return 'not a file'
    import decord
    key = (osp.realpath(path), stat.st_size, stat.st_mtime_ns)
    num_frames = _CHECKED_FRAMES.get(key)
    if num_frames is None:
        try:
            num_frames = count_frames(path)
        except (RuntimeError, decord.DECORDError) as err:
            return f'decord cannot open it: {_decord_message(err, path)}'
    if num_frames < min_frames:
        return (f'has {num_frames} frame(s), fewer than '
                f'min_frames={min_frames}')
    _CHECKED_FRAMES[key] = num_frames
    return None


def _listing(ann_file: str, problems: Sequence[Tuple[int, str]]) -> str:
    """``"  <ann_file>:<line>: <problem>"`` lines, at most MAX_LISTED."""
    lines = [
        f'  {ann_file}:{line}: {text}' for line, text in problems[:MAX_LISTED]
    ]
    if len(problems) > MAX_LISTED:
        lines.append(f'  ... and {len(problems) - MAX_LISTED} more')
    return '\n'.join(lines)


@DATASETS.register_module()
class CheckedVideoDataset(VideoDataset):
    """MMAction2's ``VideoDataset`` with a check of its annotation list.

    Takes every argument of ``VideoDataset`` (``num_classes`` also bounds
    the labels here) and the following. The check runs when the data list
    is loaded, that is when the dataset is built, before any clip is drawn.

    Args:
        check_videos (bool): Open every video with decord and read its
            frame count. Defaults to True.
        on_bad_video (str): ``'error'`` raises :class:`AnnotationError`
            listing every bad video; ``'skip'`` leaves them out and logs a
            warning listing them. Defaults to ``'error'``.
        min_frames (int): Fewest frames of a usable video. Defaults to 1.
        label_map_file (str, optional): Class names, one a line; label =
            line index. Bounds the labels and names the classes.
        hierarchy_file (str, optional): Class hierarchy CSV (with
            ``label_map_file``): every label must be one of its leaves.
        path_class_pattern (str, optional): Regular expression with a group
            ``class`` that finds the class name in a video path as written
            in the list, e.g. ``r'^(?P<class>[^/]+)/'`` for UCF-101's
            ``Class/v_Class_g01_c01.avi``. Every path must match, and the
            name must be the label map's name of the line's label (for a
            multi-class line, of one of its labels). Needs
            ``label_map_file``.
        check_workers (int, optional): Threads opening videos. Defaults to
            None (Python's default for a thread pool).
        progress (bool): Show a progress bar while videos are checked
            (main process only). Defaults to True.
        **kwargs: The arguments of ``VideoDataset``.
    """

    def __init__(self,
                 ann_file: str,
                 pipeline: List,
                 check_videos: bool = True,
                 on_bad_video: str = 'error',
                 min_frames: int = 1,
                 label_map_file: Optional[str] = None,
                 hierarchy_file: Optional[str] = None,
                 path_class_pattern: Optional[str] = None,
                 check_workers: Optional[int] = None,
                 progress: bool = True,
                 **kwargs) -> None:
        name = type(self).__name__
        if on_bad_video not in ('error', 'skip'):
            raise ValueError(f"{name}: on_bad_video must be 'error' or "
                             f"'skip', got {on_bad_video!r}")
        if not isinstance(min_frames, int) or min_frames < 1:
            raise ValueError(f'{name}: min_frames must be an int >= 1, got '
                             f'{min_frames!r}')
        if hierarchy_file is not None and label_map_file is None:
            raise ValueError(f'{name}: hierarchy_file {hierarchy_file} needs '
                             'the label_map_file that orders its leaves')
        if path_class_pattern is not None:
            if label_map_file is None:
                raise ValueError(f'{name}: path_class_pattern needs '
                                 'label_map_file for the class names')
            if 'class' not in re.compile(path_class_pattern).groupindex:
                raise ValueError(
                    f'{name}: path_class_pattern {path_class_pattern!r} '
                    'has no group named "class"')
        self.check_videos = check_videos
        self.on_bad_video = on_bad_video
        self.min_frames = min_frames
        self.path_class_pattern = path_class_pattern
        self.check_workers = check_workers
        self.progress = progress
        self.class_names = self._read_class_names(label_map_file,
                                                  hierarchy_file)
        self.skipped: List[dict] = []
        num_classes = kwargs.pop('num_classes', None)
        if self.class_names is not None:
            if num_classes is None:
                num_classes = len(self.class_names)
            elif num_classes != len(self.class_names):
                raise ValueError(
                    f'{name}: num_classes={num_classes} but '
                    f'{label_map_file} names {len(self.class_names)} '
                    'classes')
        super().__init__(ann_file, pipeline, num_classes=num_classes, **kwargs)

    @staticmethod
    def _read_class_names(label_map_file: Optional[str],
                          hierarchy_file: Optional[str]) -> Optional[list]:
        """Class names of the label map; with a hierarchy, its leaves (the
        hierarchy checks that the label map names exactly its leaves)."""
        if label_map_file is None:
            return None
        if hierarchy_file is not None:
            hierarchy = ClassHierarchy.from_files(hierarchy_file,
                                                  label_map_file)
            return hierarchy.node_names[:hierarchy.num_leaves]
        return ClassHierarchy.read_label_map(label_map_file)

    def load_data_list(self) -> List[dict]:
        """Load the annotation list and check it (module doc)."""
        lines = list_from_file(self.ann_file)
        labels = self._parse_labels(lines)
        data_list = super().load_data_list()
        if len(data_list) != len(lines):
            raise RuntimeError(
                f'{self.ann_file}: VideoDataset read {len(data_list)} '
                f'entries from {len(lines)} lines')
        self._check_labels(lines, labels)
        for number, info in enumerate(data_list, start=1):
            info['ann_line'] = number
        if self.check_videos:
            data_list = self._check_videos(data_list)
        return data_list

    def _parse_labels(self, lines: List[str]) -> List[List[int]]:
        """Labels of every line (empty for a label-less line), raising an
        :class:`AnnotationError` that lists every malformed line."""
        problems, labels = [], []
        for number, line in enumerate(lines, start=1):
            fields = line.strip().split(self.delimiter)
            if not fields[0]:
                problems.append((number, 'empty line'))
                labels.append([])
                continue
            expected = 'at least 2' if self.multi_class else '1 or 2'
            if (len(fields) > 2 and not self.multi_class) or \
                    (len(fields) < 2 and self.multi_class):
                problems.append(
                    (number, f'{fields[0]}: {len(fields)} fields separated '
                     f'by {self.delimiter!r}, expected {expected} (video '
                     'and label)'))
                labels.append([])
                continue
            try:
                labels.append([int(v) for v in fields[1:]])
            except ValueError:
                problems.append((number, f'{fields[0]}: labels {fields[1:]} '
                                 'are not integers'))
                labels.append([])
        if problems:
            raise AnnotationError(
                f'{self.ann_file}: {len(problems)} malformed line(s) '
                f'(expected "video{self.delimiter}label"):\n'
                f'{_listing(self.ann_file, problems)}')
        return labels

    def _check_labels(self, lines: List[str], labels: List[List[int]]) -> None:
        """Raise an :class:`AnnotationError` listing every line whose label
        is not a class of the model."""
        problems = []
        pattern = re.compile(self.path_class_pattern) \
            if self.path_class_pattern else None
        for number, (line, line_labels) in enumerate(
                zip(lines, labels), start=1):
            video = line.strip().split(self.delimiter)[0]
            if not line_labels:
                if not self.test_mode:
                    problems.append((number, f'{video}: no label (only test '
                                     'lists may omit labels)'))
                continue
            problem = self._label_problem(line_labels, video, pattern)
            if problem is not None:
                problems.append((number, f'{video}: {problem}'))
        if problems:
            raise AnnotationError(
                f'{self.ann_file}: {len(problems)} line(s) with labels that '
                f'are not classes of the model:\n'
                f'{_listing(self.ann_file, problems)}\nCheck that the list, '
                'the label map and the hierarchy belong together.')

    def _label_problem(self, labels: List[int], video: str,
                       pattern: Optional[re.Pattern]) -> Optional[str]:
        """What is wrong with the labels of one line, or None."""
        if self.num_classes is None:
            bad = [v for v in labels if v < 0]
            if bad:
                return f'negative label(s) {bad}'
            return None
        bad = [v for v in labels if not 0 <= v < self.num_classes]
        if bad:
            return (f'label(s) {bad} outside [0, {self.num_classes - 1}], '
                    f'the {self.num_classes} classes')
        if pattern is None:
            return None
        match = pattern.search(video)
        if match is None:
            return f'path does not match path_class_pattern ' \
                f'{pattern.pattern!r}'
        found, names = match.group('class'), [
            self.class_names[v] for v in labels
        ]
        if found in names:
            return None
        if len(labels) == 1:
            return (f'class {found!r} in the path, but label {labels[0]} is '
                    f'{names[0]!r} in the label map')
        return (f'class {found!r} in the path is none of its labels '
                f'{labels} {names}')

    def _check_videos(self, data_list: List[dict]) -> List[dict]:
        """Open every video; raise or skip (``on_bad_video``) bad ones."""
        start = time.monotonic()
        bar = ProgressBar(len(data_list), file=sys.stdout) \
            if self.progress and is_main_process() and data_list else None
        problems = []
        with ThreadPoolExecutor(self.check_workers) as pool:
            check = partial(video_problem, min_frames=self.min_frames)
            for problem in pool.map(check,
                                    [info['filename'] for info in data_list]):
                problems.append(problem)
                if bar is not None:
                    bar.update()
        if bar is not None:
            bar.file.write('\n')
        bad = [(info['ann_line'], f'{info["filename"]}: {problem}')
               for info, problem in zip(data_list, problems)
               if problem is not None]
        seconds = time.monotonic() - start
        if not bad:
            print_log(
                f'{self.ann_file}: checked {len(data_list)} videos in '
                f'{seconds:.1f} s',
                logger='current')
            return data_list
        if self.on_bad_video == 'error' or len(bad) == len(data_list):
            if self.on_bad_video == 'error':
                why = "fix or remove these lines, or set on_bad_video='skip'"
            else:
                why = 'every listed video is unusable'
            raise AnnotationError(
                f'{self.ann_file}: {len(bad)} of {len(data_list)} listed '
                f'videos are unusable ({why}):\n'
                f'{_listing(self.ann_file, bad)}')
        self.skipped = [
            info for info, problem in zip(data_list, problems)
            if problem is not None
        ]
        everything = '\n'.join(f'  {self.ann_file}:{line}: {text}'
                               for line, text in bad)
        print_log(
            f'{self.ann_file}: skipping {len(bad)} of {len(data_list)} '
            f'videos that cannot be used (on_bad_video=\'skip\'):\n'
            f'{everything}',
            logger='current',
            level=logging.WARNING)
        return [
            info for info, problem in zip(data_list, problems)
            if problem is None
        ]
