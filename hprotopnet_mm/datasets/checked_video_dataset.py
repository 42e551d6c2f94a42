"""A video dataset that checks its annotation list before training starts
and survives videos that fail while they are decoded.

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
  frames. Videos are opened, not decoded, in worker processes
  (:mod:`.video_probe`): never by concurrent threads, whose first use of
  FFmpeg's decoders can abort the process, and a decoder crash is reported
  as that video's problem.

Problems are reported together, each with the annotation file, its line and
the video. Label problems always raise :class:`AnnotationError`; bad videos
raise it too unless ``on_bad_video='skip'``, which drops them from the
dataset and logs a warning listing them.

A video that opens can still fail to decode (a damaged stretch in its
middle). With ``on_bad_video='error'`` its sample raises a
:class:`BadVideoError` naming the list, line, video and decoder error. With
``'skip'`` the sample is replaced by a stand-in (:meth:`stand_in_order`:
the next samples of the same class in list order), the failure is logged and
recorded in the stand-in's metainfo (``stands_in_for``), where
``BadVideoHook`` counts it and stops the run above ``max_bad_ratio``;
metrics and the prototype projection leave stand-ins out. Stand-ins depend
on nothing but the index and the files, so resumed runs stay exact.
"""
import logging
import re
import sys
import time
from typing import Iterator, List, Optional, Sequence, Tuple

from mmengine.dist import is_main_process
from mmengine.fileio import list_from_file
from mmengine.logging import print_log
from mmengine.utils import ProgressBar

from hprotopnet_mm.hierarchy import ClassHierarchy
from mmaction.datasets import VideoDataset
from mmaction.registry import DATASETS
from .decoding_records import DecodingRecord, records_folder
from .errors import AnnotationError, BadVideoError
from .video_probe import decord_message, probe_videos

MAX_LISTED = 20  # problems spelled out in a message; the rest are counted
MAX_STAND_INS = 8  # stand-ins tried for one sample before the run stops
STAND_IN_KEY = 'stands_in_for'  # metainfo of a stand-in: the failures
LOADING_MODULE = 'mmaction.datasets.transforms.loading'  # the decoders


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
        on_bad_video (str): What a bad video does. ``'error'``: the check
            raises :class:`AnnotationError` listing every video that does
            not open, and a sample whose decoding fails raises
            :class:`BadVideoError`. ``'skip'``: the check leaves those
            videos out and logs a warning listing them, and a sample whose
            decoding fails is replaced by a stand-in (module doc), with a
            warning. Defaults to ``'error'``.
        max_bad_ratio (float): With ``'skip'``, the largest share of the
            listed videos that may be bad (left out by the check, or failed
            while decoding, counted once each); ``BadVideoHook`` stops the
            run with a list of them when more are. Defaults to 0.1.
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
        check_workers (int, optional): Worker processes opening videos
            during the check; 0 opens them in this process, one after the
            other. Defaults to None (the number of CPUs, at most 8).
        progress (bool): Show a progress bar while videos are checked
            (main process only). Defaults to True.
        **kwargs: The arguments of ``VideoDataset``.
    """

    def __init__(self,
                 ann_file: str,
                 pipeline: List,
                 check_videos: bool = True,
                 on_bad_video: str = 'error',
                 max_bad_ratio: float = 0.1,
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
        if isinstance(max_bad_ratio, bool) or not isinstance(
                max_bad_ratio, (int, float)) or not 0 <= max_bad_ratio <= 1:
            raise ValueError(f'{name}: max_bad_ratio must be a number in '
                             f'[0, 1], got {max_bad_ratio!r}')
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
        self.max_bad_ratio = float(max_bad_ratio)
        self.min_frames = min_frames
        self.path_class_pattern = path_class_pattern
        self.check_workers = check_workers
        self.progress = progress
        self.class_names = self._read_class_names(label_map_file,
                                                  hierarchy_file)
        self.skipped: List[dict] = []
        self.decoding_record = DecodingRecord(records_folder())
        self._same_label: Optional[dict] = None
        self._num_listed: Optional[int] = None
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
        problems = probe_videos([info['filename'] for info in data_list],
                                self.min_frames, self.check_workers,
                                bar.update if bar is not None else None)
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
            dict(info, problem=problem)
            for info, problem in zip(data_list, problems)
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

    def listed_videos(self) -> int:
        """Number of videos the annotations name, each counted once: the
        files of the samples and those the check left out
        (``max_bad_ratio`` is a share of it)."""
        if self._num_listed is None:
            files = {
                self.get_data_info(i)['filename']
                for i in range(len(self))
            }
            self._num_listed = len(files) + len(self.skipped)
        return self._num_listed

    # ------------------------------------------------------------------
    # decoding
    # ------------------------------------------------------------------
    def prepare_data(self, idx: int):
        """The sample of ``idx`` through the pipeline; a sample whose
        decoding fails raises :class:`BadVideoError` or is replaced by a
        stand-in (``on_bad_video``)."""
        failures = []
        for candidate in self.stand_in_order(idx):
            info = self.get_data_info(candidate)
            with self.decoding_record.decoding(self._where(info)):
                data, failure = self._run_pipeline(info)
            if failure is None:
                if failures:
                    self._mark_stand_in(data, idx, info, failures)
                return data
            if self.on_bad_video == 'error':
                raise BadVideoError(
                    f'{self._where(info)}: {failure["error"]}\nFix or '
                    "remove this line, or set on_bad_video='skip' to "
                    'replace such samples') from failure.pop('exception')
            failure.pop('exception')
            failures.append(failure)
        listing = '\n'.join(f'  {f["ann_file"]}:{f["ann_line"]}: '
                            f'{f["filename"]}: {f["error"]}' for f in failures)
        raise BadVideoError(
            f'{self.ann_file}: sample {idx} and its stand-ins all failed to '
            f'decode:\n{listing}')

    def stand_in_order(self, idx: int) -> Iterator[int]:
        """``idx``, then the samples that may stand in for it: the next
        samples of the same class in list order (wrapping around), or the
        next samples for lines without a single label; at most
        ``MAX_STAND_INS`` of them.

        Args:
            idx (int): Index of a sample.

        Yields:
            int: Dataset indices.
        """
        yield idx
        label = self._single_label(self.get_data_info(idx))
        if label is None:
            order = [(idx + k) % len(self) for k in range(1, len(self))]
        else:
            if self._same_label is None:
                self._same_label = {}
                for i in range(len(self)):
                    label_i = self._single_label(self.get_data_info(i))
                    self._same_label.setdefault(label_i, []).append(i)
            same = self._same_label[label]
            at = same.index(idx)
            order = same[at + 1:] + same[:at]
        yield from order[:MAX_STAND_INS]

    @staticmethod
    def _single_label(info: dict) -> Optional[int]:
        label = info.get('label')
        if isinstance(label, int):
            return label
        return None

    def _where(self, info: dict) -> str:
        return f'{self.ann_file}:{info.get("ann_line", "?")}: ' \
            f'{info["filename"]}'

    def _run_pipeline(self,
                      info: dict) -> Tuple[Optional[dict], Optional[dict]]:
        """(data, None), or (None, failure) when a decoding step raised.
        Errors of other transforms (pipeline bugs) propagate."""
        data = info
        for transform in self.pipeline.transforms:
            try:
                data = transform(data)
            except Exception as err:  # noqa: B902  (re-raised unless decoding)
                if not _is_decoding_error(transform, err):
                    raise
                return None, dict(
                    filename=info['filename'],
                    ann_file=self.ann_file,
                    ann_line=info.get('ann_line'),
                    error=f'{type(transform).__name__}: '
                    f'{_error_text(err, info["filename"])}',
                    exception=err)
            if data is None:
                return None, None
        return data, None

    def _mark_stand_in(self, data, idx: int, info: dict,
                       failures: List[dict]) -> None:
        """Record the failures in the stand-in's metainfo and log them."""
        for failure in failures:
            print_log(
                f'{failure["ann_file"]}:{failure["ann_line"]}: '
                f'{failure["filename"]}: decoding failed ({failure["error"]}'
                f'); sample {idx} replaced by {info["filename"]} '
                "(on_bad_video='skip')",
                logger='current',
                level=logging.WARNING)
        samples = data.get('data_samples') if isinstance(data, dict) else None
        if hasattr(samples, 'set_metainfo'):
            samples.set_metainfo({STAND_IN_KEY: failures})
        elif isinstance(data, dict):
            data[STAND_IN_KEY] = failures


def _is_decoding_error(transform, err: Exception) -> bool:
    """Whether ``err`` of ``transform`` means the video cannot be decoded:
    raised by one of MMAction2's loading transforms (or a transform derived
    from one, such as ``DecordSegmentInit``), by decord or by the file
    system."""
    if isinstance(err, OSError) or any(cls.__module__ == LOADING_MODULE
                                       for cls in type(transform).__mro__):
        return True
    return type(err).__name__ == 'DECORDError'


def _error_text(err: Exception, path: str) -> str:
    """One line naming a decoding error."""
    if type(err).__name__ == 'DECORDError':
        return decord_message(err, path)
    lines = str(err).strip().splitlines()
    return f'{type(err).__name__}: {lines[0]}' if lines else \
        type(err).__name__
