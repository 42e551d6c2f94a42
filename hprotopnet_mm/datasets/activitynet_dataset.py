"""ActivityNet v1.3 straight from its official annotation file.

The official file (``activity_net.v1-3.min.json``) holds a ``database``:
video id -> ``subset`` (``training``, ``validation``, ``testing``),
``duration``, ``annotations`` (each a ``segment`` ``[start, end]`` in
seconds and a ``label``, the class name), and a ``taxonomy`` of the classes
(see ``tools/activitynet_hierarchy.py``). :class:`ActivityNetSegmentDataset`
makes one sample per annotated segment of one subset, reading the untrimmed
videos as they were downloaded: nothing is cut, nothing is listed by hand.

Frames are sampled inside the segment only, by MMAction2's ordinary
pipeline: the dataset puts :class:`~.segment_sampling.DecordSegmentInit`, a
``DecordInit`` for segments, in the place of ``DecordInit``, which makes
``SampleFrames`` treat the segment as the whole video (frame numbers from
the segment times and the frame rate decord reports). A test pipeline of
several clips thus gives the paper's video-level accuracy per segment; the
samples carry a ``segment_id``
(``<video id>#<annotation index>``) for the metric to tell segments of one
video apart (``HierarchicalAccuracy(video_key='segment_id')``).

When the dataset is built, the checks of :class:`CheckedVideoDataset` run
once per video (``check_videos``, ``on_bad_video``, ``min_frames``): a
missing or unreadable video is listed once, with its id, and raises an
:class:`AnnotationError` or, with ``on_bad_video='skip'``, is left out with
all its segments. The same opening of a video gives its frame count and
frame rate, from which segments that end after the video (its real length,
not the annotated ``duration``) are counted and clipped to its last frame;
a segment that starts after the video's end is treated like a bad video.
Labels that are not classes of the label map, and malformed entries, raise
an :class:`AnnotationError` naming the video id.

A video that fails while it is decoded (a damaged stretch, a file replaced
after the check) is handled as in :class:`CheckedVideoDataset`: a
:class:`BadVideoError` naming the segment (``<video id>#<annotation
index>``, in the place of a list line), or with ``on_bad_video='skip'`` a
stand-in, the next segment of the same class in the file's order.
``max_bad_ratio`` counts videos, not segments.
"""
import json
import logging
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.logging import print_log

from hprotopnet_mm.hierarchy import HIERARCHY_FILES_DIR
from mmaction.registry import DATASETS
from .checked_video_dataset import (MAX_LISTED, AnnotationError,
                                    CheckedVideoDataset, _listing)
from .segment_sampling import (DecordSegmentInit, check_segment,
                               segment_frame_range)
from .video_probe import checked_video_meta

DEFAULT_LABEL_MAP = osp.join(HIERARCHY_FILES_DIR, 'activitynet_label_map.txt')


def _type_name(transform) -> Optional[str]:
    """Registered name of a transform config or object, without scope."""
    if transform is None:
        return None
    if isinstance(transform, dict):
        kind = transform.get('type')
        name = kind if isinstance(kind, str) else getattr(
            kind, '__name__', None)
        return name.split('.')[-1] if name else None
    return type(transform).__name__


def with_segment_init(pipeline: Sequence, owner: str = 'dataset') -> list:
    """The pipeline with ``DecordSegmentInit`` in the place of
    ``DecordInit`` (same arguments).

    A pipeline that already holds ``DecordSegmentInit`` is returned as it
    is; an empty one too (nothing is decoded).

    Raises:
        ValueError: A non-empty pipeline without ``DecordInit`` (the other
            video readers of MMAction2 do not report the frame rate).
    """
    pipeline = list(pipeline)
    names = [_type_name(t) for t in pipeline]
    if not pipeline or 'DecordSegmentInit' in names:
        return pipeline
    if 'DecordInit' not in names:
        raise ValueError(
            f'{owner}: the pipeline {names} has no DecordInit, which '
            'DecordSegmentInit replaces to sample inside the segment (it '
            'needs the frame rate decord reports)')
    out = []
    for transform, name in zip(pipeline, names):
        if name != 'DecordInit':
            out.append(transform)
        elif isinstance(transform, dict):
            out.append(dict(transform, type='DecordSegmentInit'))
        else:
            out.append(
                DecordSegmentInit(transform.io_backend, transform.num_threads,
                                  **transform.kwargs))
    return out


def _segment_problem(segment) -> Optional[str]:
    """What is wrong with an annotated ``segment`` value, or None."""
    if not isinstance(segment, (list, tuple)) or len(segment) != 2 or \
            not all(isinstance(t, (int, float)) and not isinstance(t, bool)
                    for t in segment):
        return f'segment {segment!r} is not [start, end] in seconds'
    try:
        check_segment(*segment)
    except ValueError as err:
        return str(err)
    return None


@DATASETS.register_module()
class ActivityNetSegmentDataset(CheckedVideoDataset):
    """One sample per annotated segment of ActivityNet's official file.

    Args:
        ann_file (str): The official annotation file
            (``activity_net.v1-3.min.json``).
        pipeline (list): MMAction2's video pipeline, starting with
            ``DecordInit``, which becomes ``DecordSegmentInit``.
        subset (str): ``'training'`` or ``'validation'`` (the ``subset`` of
            the videos to take). Defaults to ``'training'``.
        data_prefix (dict): ``video``: the folder of the downloaded videos.
        label_map_file (str): Class names, one a line, label = line index;
            every annotated label must be one. Defaults to the shipped
            ActivityNet label map.
        filename_tmpls (Sequence[str]): Video file names without extension,
            ``{}`` standing for the video id, tried in order. Defaults to
            ``('v_{}', '{}')``.
        extensions (Sequence[str]): Video file extensions, tried in order
            for each name. Defaults to ``('.mp4', '.mkv', '.webm')``.
        **kwargs: The arguments of :class:`CheckedVideoDataset`
            (``check_videos``, ``on_bad_video``, ``min_frames``,
            ``hierarchy_file``, ``check_workers``, ``progress``,
            ``test_mode``, ...), except those of text lists.

    Attributes:
        skipped (list[dict]): Videos left out (``on_bad_video='skip'``).
        skipped_segments (list[dict]): Samples left out: the segments of
            those videos and segments that start after their video's end.
        clipped (list[dict]): Segments that end after their video:
            ``video_id``, ``segment``, ``video_seconds``.
    """

    def __init__(self,
                 ann_file: str,
                 pipeline: List,
                 subset: str = 'training',
                 data_prefix: dict = dict(video=''),
                 label_map_file: str = DEFAULT_LABEL_MAP,
                 filename_tmpls: Sequence[str] = ('v_{}', '{}'),
                 extensions: Sequence[str] = ('.mp4', '.mkv', '.webm'),
                 **kwargs) -> None:
        name = type(self).__name__
        for key in ('path_class_pattern', 'multi_class', 'delimiter'):
            if kwargs.get(key):
                raise ValueError(f'{name}: {key} belongs to annotation '
                                 'lists, not to the ActivityNet file')
        if label_map_file is None:
            raise ValueError(f'{name}: label_map_file is needed: the '
                             'annotation file names classes, not labels')
        if not filename_tmpls or not all('{}' in t for t in filename_tmpls):
            raise ValueError(f'{name}: every filename_tmpls entry needs {{}} '
                             f'for the video id, got {filename_tmpls!r}')
        if not extensions:
            raise ValueError(f'{name}: extensions is empty')
        self.subset = subset
        self.label_map_file = label_map_file
        self.filename_tmpls = tuple(filename_tmpls)
        self.extensions = tuple(extensions)
        self.skipped_segments: List[dict] = []
        self.clipped: List[dict] = []
        super().__init__(
            ann_file,
            with_segment_init(pipeline, name),
            data_prefix=data_prefix,
            label_map_file=label_map_file,
            **kwargs)

    # ------------------------------------------------------------------
    # reading the annotation file
    # ------------------------------------------------------------------
    def _read_database(self) -> Dict[str, dict]:
        """The ``database`` of the annotation file."""
        try:
            with open(self.ann_file, encoding='utf-8') as f:
                content = json.load(f)
        except json.JSONDecodeError as err:
            raise AnnotationError(
                f'{self.ann_file}: not a JSON file ({err})') from err
        database = content.get('database') if isinstance(content,
                                                         dict) else None
        if not isinstance(database, dict):
            raise AnnotationError(
                f'{self.ann_file}: no "database" object of videos (is it '
                "ActivityNet's official annotation file?)")
        return database

    def _parse_segments(self, database: Dict[str, dict]) -> List[dict]:
        """One data info per annotated segment of the subset; raises an
        :class:`AnnotationError` listing every bad entry by video id."""
        labels = {name: index for index, name in enumerate(self.class_names)}
        problems, segments, subsets = [], [], set()
        for video_id, entry in database.items():
            if not isinstance(entry, dict) or 'subset' not in entry:
                problems.append((video_id, 'no "subset"'))
                continue
            subsets.add(entry['subset'])
            if entry['subset'] != self.subset:
                continue
            annotations = entry.get('annotations')
            if not isinstance(annotations, list):
                problems.append((video_id, 'no "annotations" list'))
                continue
            for index, annotation in enumerate(annotations):
                where = f'annotation {index}'
                if not isinstance(annotation, dict):
                    problems.append((video_id, f'{where} is not an object'))
                    continue
                label = annotation.get('label')
                problem = _segment_problem(annotation.get('segment'))
                if problem is not None:
                    problems.append((video_id, f'{where}: {problem}'))
                elif label not in labels:
                    problems.append(
                        (video_id, f'{where}: label {label!r} is not a class '
                         f'of the label map {self.label_map_file}'))
                else:
                    segment_id = f'{video_id}#{index}'
                    segments.append(
                        dict(
                            video_id=video_id,
                            label=labels[label],
                            segment=tuple(
                                float(t) for t in annotation['segment']),
                            segment_id=segment_id,
                            ann_line=segment_id))  # where errors name it
        if problems:
            raise AnnotationError(
                f'{self.ann_file}: {len(problems)} problem(s) in the '
                f'annotations:\n{_listing(self.ann_file, problems)}\nCheck '
                'that the annotation file and the label map belong together.')
        if not segments:
            raise AnnotationError(
                f'{self.ann_file}: no annotated segments in subset '
                f'{self.subset!r} (the file has subsets {sorted(subsets)})')
        return segments

    # ------------------------------------------------------------------
    # finding and checking the videos
    # ------------------------------------------------------------------
    def _video_files(self, video_ids: Sequence[str]) -> Dict[str, str]:
        """The path of every video: the first file name the templates and
        extensions give that is in the video folder, else the first name
        (which the check reports as not found)."""
        folder = self.data_prefix.get('video') or ''
        try:
            present = set(os.listdir(folder or '.'))
        except OSError as err:
            raise AnnotationError(
                f'{type(self).__name__}: cannot list the video folder '
                f'{folder!r} (data_prefix.video): {err.strerror}') from err
        paths = {}
        for video_id in video_ids:
            names = [
                tmpl.format(video_id) + ext for tmpl in self.filename_tmpls
                for ext in self.extensions
            ]
            found = next((n for n in names if n in present), names[0])
            paths[video_id] = osp.join(folder, found)
        return paths

    def load_data_list(self) -> List[dict]:
        """Read the subset's segments, find and check their videos (module
        doc)."""
        segments = self._parse_segments(self._read_database())
        video_ids = list(dict.fromkeys(s['video_id'] for s in segments))
        paths = self._video_files(video_ids)
        for info in segments:
            info['filename'] = paths[info['video_id']]
        if not self.check_videos:
            self._log_summary(segments, len(video_ids))
            return segments
        videos = [
            dict(filename=paths[v], ann_line=v, video_id=v) for v in video_ids
        ]
        usable = {
            info['video_id']: info['filename']
            for info in self._check_videos(videos)
        }
        data_list, out_of_video = [], []
        for info in segments:
            if info['video_id'] not in usable:
                self.skipped_segments.append(info)
                continue
            problem = self._trim(info)
            if problem is None:
                data_list.append(info)
            else:
                out_of_video.append((info, problem))
        self._report_out_of_video(out_of_video, len(segments))
        self._log_summary(data_list, len(usable))
        return data_list

    def _trim(self, info: dict) -> Optional[str]:
        """Count a segment that ends after its (checked) video as clipped;
        return what is wrong with one that starts after its end."""
        meta = checked_video_meta(info['filename'])
        if meta is None:
            return 'the file changed while the dataset was built'
        num_frames, fps = meta
        try:
            _, _, clipped = segment_frame_range(*info['segment'], fps,
                                                num_frames)
        except ValueError as err:
            return str(err)
        if clipped:
            self.clipped.append(
                dict(
                    video_id=info['video_id'],
                    segment=info['segment'],
                    video_seconds=num_frames / fps))
        return None

    def _report_out_of_video(self, bad: List[Tuple[dict, str]],
                             total: int) -> None:
        """Raise on, or leave out and list, segments that start after the
        end of their video (``on_bad_video``)."""
        if not bad:
            return
        problems = [(info['video_id'], f'{info["filename"]}: {problem}')
                    for info, problem in bad]
        if self.on_bad_video == 'error':
            raise AnnotationError(
                f'{self.ann_file}: {len(bad)} of {total} segments lie outside '
                'their video (shorter than annotated: a partial or '
                "different download?; replace the video or set "
                "on_bad_video='skip'):\n"
                f'{_listing(self.ann_file, problems)}')
        self.skipped_segments.extend(info for info, _ in bad)
        everything = '\n'.join(f'  {self.ann_file}:{video}: {text}'
                               for video, text in problems)
        print_log(
            f'{self.ann_file}: skipping {len(bad)} of {total} segments that '
            f"lie outside their video (on_bad_video='skip'):\n{everything}",
            logger='current',
            level=logging.WARNING)

    def _log_summary(self, data_list: List[dict], num_videos: int) -> None:
        """Log the sample count, what was left out and what was clipped."""
        left_out = ''
        if self.skipped_segments:
            left_out = (f'; {len(self.skipped_segments)} segment(s) left out '
                        f'({len(self.skipped)} unusable video(s), listed '
                        'above)')
        print_log(
            f'{self.ann_file} ({self.subset}): {len(data_list)} segments of '
            f'{num_videos} videos{left_out}',
            logger='current')
        if not self.clipped:
            return
        lines = [
            f'  {self.ann_file}:{c["video_id"]}: segment '
            f'[{c["segment"][0]:g}, {c["segment"][1]:g}] s, the video ends '
            f'at {c["video_seconds"]:.2f} s' for c in self.clipped[:MAX_LISTED]
        ]
        if len(self.clipped) > MAX_LISTED:
            lines.append(f'  ... and {len(self.clipped) - MAX_LISTED} more')
        print_log(
            f'{self.ann_file} ({self.subset}): {len(self.clipped)} of '
            f'{len(data_list)} segments end after their video and are '
            'clipped to its last frame:\n' + '\n'.join(lines),
            logger='current',
            level=logging.WARNING)
