"""Open videos with decord, in worker processes, before training starts.

decord 0.6.0 bundles FFmpeg 4.1, whose decoders fill some lookup tables
once per process on first use, without a lock: opening the first MPEG-4
Part 2 video (the mp4v toy clips, the Xvid clips of UCF-101) runs
``ff_mpeg4videodec_static_init`` from the mpeg4video parser, which
``avformat_find_stream_info`` starts outside FFmpeg's codec lock. Two
threads that open their first such videos at the same time write the same
static table; one can read an entry the other has half written (length
set, symbol not yet) and stops the process with ``incorrect codes`` and
``Assertion ret >= 0 failed at libavcodec/bitstream.c:346`` (SIGABRT).

So videos are never opened by concurrent threads here.
:func:`probe_videos` opens them in single-threaded worker processes: each
one sets up its tables alone, and a decoder that crashes on a damaged file
takes down only its worker, which is replaced; the file is reported as
unusable with the signal that ended the worker.
"""
import multiprocessing
import os
import os.path as osp
import re
import signal
from collections import deque
from multiprocessing.connection import wait
from typing import Callable, Dict, List, Optional, Sequence, Tuple

# Frame counts and average frame rates of the videos that the check opened
# in this process (or in its workers), keyed by (real path, size,
# modification time): datasets rebuilt during training (the projection and
# last-layer dataloaders) do not open them again.
_CHECKED_VIDEOS: Dict[Tuple[str, int, int], Tuple[int, float]] = {}
MAX_PROBE_PROCESSES = 8


def video_meta(path: str) -> Tuple[int, float]:
    """Frame count and average frame rate decord reports for a video, from
    one opening, without decoding it.

    Args:
        path (str): Video file.

    Returns:
        tuple: The frame count (int) and frames per second (float).

    Raises:
        RuntimeError: decord's error when it cannot open the file.
    """
    import decord
    reader = decord.VideoReader(path, num_threads=1)
    return len(reader), float(reader.get_avg_fps())


def checked_video_meta(path: str) -> Optional[Tuple[int, float]]:
    """Frame count and average frame rate of a video that the check
    (:func:`probe_videos`) opened in this process and that has not changed
    since, or None; opens nothing.

    Args:
        path (str): Video file.

    Returns:
        tuple | None: The frame count (int) and frames per second (float).
    """
    _, key = _file_problem(path)
    return None if key is None else _CHECKED_VIDEOS.get(key)


def decord_message(err: Exception, path: Optional[str] = None) -> str:
    """First line of a decord error without its ``[time] file:line:``
    prefixes and failed check, with the video's path replaced by "the
    file"."""
    lines = str(err).strip().splitlines() or [type(err).__name__]
    text = re.sub(r'^(\[[\d:]+\] \S+:\d+: )+', '', lines[0])
    text = text.split(' ERROR ')[-1]
    if path:
        text = text.replace(path, 'the file')
    if text.startswith('Error reading the file'):
        # decord's message when ffmpeg cannot open the container
        text = 'no readable video container (truncated, corrupt or not a ' \
            'video)'
    return text


def _file_problem(path: str) -> Tuple[Optional[str], Optional[tuple]]:
    """A problem found without opening the file, and its cache key."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return 'file not found', None
    except OSError as err:
        return f'cannot be accessed ({err.strerror})', None
    if not osp.isfile(path):
        return 'not a file', None
    return None, (osp.realpath(path), stat.st_size, stat.st_mtime_ns)


def _frames_problem(num_frames: int, min_frames: int) -> Optional[str]:
    if num_frames < min_frames:
        return (f'has {num_frames} frame(s), fewer than '
                f'min_frames={min_frames}')
    return None


def _open(path: str) -> Tuple[Optional[str], Optional[Tuple[int, float]]]:
    """(problem, (frame count, fps)) of opening one video in this process;
    (problem, None) when it does not open."""
    import decord
    try:
        return None, video_meta(path)
    except (RuntimeError, decord.DECORDError) as err:
        return f'decord cannot open it: {decord_message(err, path)}', None


def video_problem(path: str, min_frames: int = 1) -> Optional[str]:
    """What is wrong with a video file, or None if it is usable; opens it
    in this process (a decoder crash ends this process).

    Args:
        path (str): Video file.
        min_frames (int): Fewest frames a usable video has.

    Returns:
        str | None: A short description of the problem.
    """
    return probe_videos([path], min_frames, workers=0)[0]


def _probe_loop(conn) -> None:
    """Worker process: open each path received, send (problem, meta)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles ^C
    for path in iter(conn.recv, None):
        conn.send(_open(path))


def _crash_problem(exitcode: Optional[int]) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            how = f'killed by {signal.Signals(-exitcode).name}'
        except ValueError:
            how = f'killed by signal {-exitcode}'
    else:
        how = f'exit code {exitcode}'
    return (f'the video decoder crashed while opening it ({how}); the file '
            'is probably damaged')


def _can_fork() -> bool:
    return 'fork' in multiprocessing.get_all_start_methods() and \
        not multiprocessing.current_process().daemon


class _ProbePool:
    """Worker processes opening one video at a time; a worker that dies
    is replaced and its video reported."""

    def __init__(self, size: int) -> None:
        self.context = multiprocessing.get_context('fork')
        self.size = size
        self.busy: Dict[object, Tuple[object, int]] = {}  # conn -> (proc, i)

    def run(self, paths: Sequence[str], todo: Sequence[int],
            done: Callable[[int, Optional[str], Optional[tuple]],
                           None]) -> None:
        pending = deque(todo)
        idle = [self._start() for _ in range(min(self.size, len(pending)))]
        try:
            for conn, proc in idle:
                self._give(conn, proc, pending, paths)
            while self.busy:
                for conn in wait(list(self.busy)):
                    proc, index = self.busy.pop(conn)
                    try:
                        problem, meta = conn.recv()
                    except (EOFError, OSError):  # the worker died
                        conn.close()
                        proc.join()
                        done(index, _crash_problem(proc.exitcode), None)
                        if pending:
                            self._give(*self._start(), pending, paths)
                        continue
                    done(index, problem, meta)
                    self._give(conn, proc, pending, paths)
        finally:
            for conn, (proc, _) in list(self.busy.items()):
                proc.kill()
                proc.join()
                conn.close()
            self.busy.clear()

    def _start(self):
        parent, child = self.context.Pipe()
        proc = self.context.Process(
            target=_probe_loop, args=(child, ), daemon=True)
        proc.start()
        child.close()
        return parent, proc

    def _give(self, conn, proc, pending, paths) -> None:
        """Send the next path to a worker, or let it finish."""
        if pending:
            index = pending.popleft()
            conn.send(paths[index])
            self.busy[conn] = (proc, index)
            return
        conn.send(None)
        conn.close()
        proc.join()


def probe_videos(paths: Sequence[str],
                 min_frames: int = 1,
                 workers: Optional[int] = None,
                 progress: Optional[Callable[[], None]] = None
                 ) -> List[Optional[str]]:
    """Check that every video exists, opens with decord and has at least
    ``min_frames`` frames.

    Videos are opened in ``workers`` single-threaded worker processes
    (module doc), so neither FFmpeg's unguarded first-use set-up nor a
    decoder crash can end the calling process. Videos that passed before in
    this process, unchanged since, are not opened again. The frame count and
    frame rate of every video that opens are kept for
    :func:`checked_video_meta`.

    Args:
        paths (Sequence[str]): Video files.
        min_frames (int): Fewest frames of a usable video.
        workers (int, optional): Worker processes; None: the number of CPUs,
            at most 8; 0: open in this process, one after the other (also
            the fallback where processes cannot be forked).
        progress (callable, optional): Called once per video checked.

    Returns:
        list[str | None]: The problem of every video, None when usable.
    """
    problems: List[Optional[str]] = [None] * len(paths)
    keys: Dict[int, tuple] = {}

    def done(index: int, problem: Optional[str],
             meta: Optional[Tuple[int, float]]) -> None:
        if problem is None:
            _CHECKED_VIDEOS[keys[index]] = meta
            problem = _frames_problem(meta[0], min_frames)
        problems[index] = problem
        if progress is not None:
            progress()

    todo = []
    for index, path in enumerate(paths):
        problem, key = _file_problem(path)
        if key is None:
            done(index, problem, None)
        elif key in _CHECKED_VIDEOS:
            keys[index] = key
            done(index, None, _CHECKED_VIDEOS[key])
        else:
            keys[index] = key
            todo.append(index)
    if workers is None:
        workers = min(MAX_PROBE_PROCESSES, os.cpu_count() or 1)
    if todo and workers > 0 and _can_fork():
        _ProbePool(workers).run(paths, todo, done)
    else:
        for index in todo:
            done(index, *_open(paths[index]))
    return problems
