"""Sample frames inside an annotated segment of a longer video.

ActivityNet annotates segments ``[start, end]`` in seconds inside untrimmed
videos. :func:`segment_frame_range` turns a segment into the frames it
covers, and the :class:`DecordSegmentInit` transform, ``DecordInit`` for a
segment, makes MMAction2's ordinary pipeline (``SampleFrames``,
``DecordDecode``, ...) treat those frames as the whole video: it sets
``total_frames`` to the segment's length and ``start_index`` to its first
frame. ``SampleFrames`` then chooses its offsets over the segment exactly as
it would over a file holding only the segment, wraps indices past the end
around inside the segment (``out_of_bound_opt='loop'``) and adds
``start_index``, so ``frame_inds`` are frame numbers of the full video, all
inside the segment, and ``DecordDecode`` reads them from it.
"""
import math
import os.path as osp
from typing import Dict, Tuple

from mmaction.datasets.transforms import DecordInit
from mmaction.registry import TRANSFORMS

# Tolerance of the float product seconds * fps: a segment annotated at
# 2.0 s of a 30 fps video starts at frame 60, not 61.
_EPS = 1e-6


def check_segment(start: float, end: float) -> None:
    """Raise ``ValueError`` unless ``[start, end]`` is an interval of
    non-negative, finite seconds (``end == start`` is allowed)."""
    if not (math.isfinite(start) and math.isfinite(end)) or start < 0 \
            or end < start:
        raise ValueError(f'segment [{start}, {end}] s is not an interval '
                         'of non-negative times')


def segment_frame_range(start: float, end: float, fps: float,
                        num_frames: int) -> Tuple[int, int, bool]:
    """Frames ``[first, stop)`` of a video that a segment covers.

    Frame ``i`` is shown at ``i / fps`` seconds; the segment covers the
    frames shown in ``[start, end)`` (what cutting the video at ``start``
    and ``end`` keeps), and at least one frame (ActivityNet has segments of
    length 0). A segment ending after the video's last frame is clipped to
    it.

    Args:
        start (float): Segment start in seconds, >= 0.
        end (float): Segment end in seconds, >= ``start``.
        fps (float): Frames per second of the video, > 0.
        num_frames (int): Frames of the video, > 0.

    Returns:
        tuple: ``first`` (int), ``stop`` (int, exclusive,
        ``first < stop <= num_frames``) and ``clipped`` (bool: the segment
        ended after the video).

    Raises:
        ValueError: On a negative or inverted segment, a bad frame rate or
            frame count, or a segment starting at or after the video's end.
    """
    check_segment(start, end)
    if not fps > 0 or not math.isfinite(fps):
        raise ValueError(f'frame rate must be positive, got {fps}')
    if num_frames < 1:
        raise ValueError(f'the video has no frames ({num_frames})')
    first = math.ceil(start * fps - _EPS)
    stop = max(math.ceil(end * fps - _EPS), first + 1)
    if first >= num_frames:
        raise ValueError(
            f'segment [{start}, {end}] s starts at or after the end of the '
            f'video ({num_frames} frames at {fps:g} fps = '
            f'{num_frames / fps:.2f} s)')
    return first, min(stop, num_frames), stop > num_frames


@TRANSFORMS.register_module()
class DecordSegmentInit(DecordInit):
    """``DecordInit`` for the annotated segment of a video.

    Opens the video as ``DecordInit`` does, except that a local file
    (``io_backend='disk'``) is opened by its path: ``DecordInit`` first
    reads the whole file into memory, which for a long video costs more
    than decoding a clip of it. Then restricts frame sampling to the
    segment, with the frames of :func:`segment_frame_range` for the frame
    rate and frame count decord reports. ``ActivityNetSegmentDataset`` puts
    it in the place of ``DecordInit``, with the same arguments.

    Required keys:
        - filename
        - segment: ``(start, end)`` in seconds
        - start_index

    Added or modified keys:
        - video_reader, avg_fps (as ``DecordInit``)
        - total_frames: frames of the segment
        - start_index: plus the segment's first frame
        - segment_frames: ``(first, stop)``, frames of the full video
    """

    def _get_video_reader(self, filename: str):
        if self.io_backend != 'disk':
            return super()._get_video_reader(filename)
        import decord
        if osp.splitext(filename)[0] == filename:  # as DecordInit
            filename = filename + '.mp4'
        return decord.VideoReader(filename, num_threads=self.num_threads)

    def transform(self, results: Dict) -> Dict:
        if 'segment' not in results:
            raise KeyError(
                f'DecordSegmentInit: no segment in the sample of '
                f'{results.get("filename")} (it reads segments of an '
                'ActivityNetSegmentDataset)')
        results = super().transform(results)
        start, end = (float(t) for t in results['segment'])
        try:
            first, stop, _ = segment_frame_range(start, end,
                                                 results['avg_fps'],
                                                 results['total_frames'])
        except ValueError as err:
            raise ValueError(f'{results["filename"]}: {err}') from err
        results['segment_frames'] = (first, stop)
        results['total_frames'] = stop - first
        results['start_index'] = results.get('start_index', 0) + first
        return results
