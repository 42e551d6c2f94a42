"""The video each DataLoader worker is decoding, so that a worker killed by a
decoder crash is reported with its video.

A crash inside FFmpeg (a failed assertion, a segmentation fault) cannot be
caught: it ends the worker process, and PyTorch's DataLoader raises a bare
``DataLoader worker (pid N) is killed by signal: Aborted.`` in the training
process. Before each sample a worker writes the video it is about to decode
into a small file named after its process id, in a folder the training
process made (:class:`DecodingRecord`), and empties it when the sample is
done. :func:`name_crashed_workers` turns the DataLoader's error into a
:class:`BadVideoError` that names the video (a crashed worker keeps its
record; one that ends normally removes it).
"""
import atexit
import contextlib
import gc
import os
import os.path as osp
import re
import shutil
import tempfile
import time
from multiprocessing.util import Finalize
from typing import Iterator, List, Optional, Set, Tuple

from .errors import BadVideoError

_folder: Optional[str] = None
_folder_owner: Optional[int] = None
# PyTorch's messages: "DataLoader worker (pid 12) is killed by signal: ...",
# "DataLoader worker (pid(s) 12, 13) exited unexpectedly"
_WORKER_PIDS = re.compile(r'DataLoader worker \(pid(?:\(s\))? ([\d, ]+)\)')


def records_folder() -> str:
    """The folder of this process's worker records; made on first use and
    removed when the process exits."""
    global _folder, _folder_owner
    if _folder is None or _folder_owner != os.getpid():
        _folder = tempfile.mkdtemp(prefix='hprotopnet_mm-decoding-')
        _folder_owner = os.getpid()
        atexit.register(shutil.rmtree, _folder, True)
    return _folder


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


class DecodingRecord:
    """What a DataLoader worker is decoding, in ``<folder>/<pid>``.

    Made in the training process (it holds the folder); the dataset carries
    it into every worker. Outside DataLoader workers it records nothing:
    there a crash ends the training process itself.

    Args:
        folder (str): The training process's :func:`records_folder`.
    """

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self._file: Optional[str] = None
        self._pid: Optional[int] = None

    def write(self, text: str) -> None:
        """Record ``text`` (empty: nothing is being decoded)."""
        from torch.utils.data import get_worker_info
        if get_worker_info() is None:
            return
        if self._pid != os.getpid():  # the first sample of this worker
            self._pid = os.getpid()
            self._file = osp.join(self.folder, str(self._pid))
            # runs when the worker ends normally; a crashed worker's record
            # stays for the training process to read
            Finalize(None, _remove, args=(self._file, ), exitpriority=0)
        with open(self._file, 'w') as f:
            f.write(text)

    @contextlib.contextmanager
    def decoding(self, text: str) -> Iterator[None]:
        """Record ``text`` while the block runs."""
        self.write(text)
        try:
            yield
        finally:
            self.write('')


def _is_dead(pid: int) -> bool:
    """Whether process ``pid`` has ended (gone or a zombie; Linux /proc)."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] in ('Z', 'X')
    except FileNotFoundError:
        return True
    except (OSError, IndexError):
        return False


def crashed_worker_videos(message: str,
                          wait: float = 0.0) -> List[Tuple[int, str]]:
    """(pid, video) of DataLoader workers that died while decoding a video:
    the workers a DataLoader error ``message`` names, or, when it names
    none, the ended workers whose record names a video (waiting up to
    ``wait`` seconds for a dying one)."""
    if _folder is None or _folder_owner != os.getpid():
        return []
    match = _WORKER_PIDS.search(message)
    if match is not None:
        pids = [int(p) for p in match.group(1).split(',') if p.strip()]
    else:
        pids = [int(n) for n in os.listdir(_folder) if n.isdigit()]
    deadline = time.monotonic() + wait
    while True:
        found = []
        for pid in pids:
            try:
                with open(osp.join(_folder, str(pid))) as f:
                    text = f.read().strip()
            except FileNotFoundError:
                continue
            if text and (match is not None or _is_dead(pid)):
                found.append((pid, text))
        if found or time.monotonic() >= deadline:
            return found
        time.sleep(0.05)


def _stop_loaders_of(pids: Set[int]) -> None:
    """Shut down the DataLoader iterators whose workers include ``pids``:
    their other workers stop, and PyTorch forgets the dead one, whose
    death its SIGCHLD handler would otherwise report again, anywhere, as
    long as the iterator lives (the error's traceback keeps it)."""
    from torch.utils.data.dataloader import _MultiProcessingDataLoaderIter
    for obj in gc.get_objects():
        # type(), not isinstance(): no lazy attribute of other objects runs
        if issubclass(type(obj), _MultiProcessingDataLoaderIter) and any(
                w.pid in pids for w in getattr(obj, '_workers', [])):
            obj._shutdown_workers()


def _named_crash(err: Exception) -> Optional[BadVideoError]:
    """The :class:`BadVideoError` for a DataLoader error caused by a worker
    that died while decoding a video, or None."""
    if isinstance(err, RuntimeError) and not _WORKER_PIDS.search(str(err)):
        return None
    what = str(err).strip() if isinstance(err, RuntimeError) else \
        f'A DataLoader worker died ({type(err).__name__}: {err})'
    found: List[Tuple[int, str]] = []
    for _ in range(5):
        try:
            found = found or crashed_worker_videos(
                what, wait=0 if _WORKER_PIDS.search(what) else 2.0)
            if found:
                _stop_loaders_of({pid for pid, _ in found})
            break
        except RuntimeError as late:
            # PyTorch's SIGCHLD handler reported the dead worker meanwhile
            if not _WORKER_PIDS.search(str(late)):
                raise
            if not _WORKER_PIDS.search(what):
                what = str(late).strip()
    if not found:
        return None
    for pid, _ in found:
        _remove(osp.join(_folder, str(pid)))
    videos = '\n'.join(f'  worker {pid}: {video}' for pid, video in found)
    return BadVideoError(
        f'{what}\nThe worker was decoding:\n{videos}\nA crash inside the '
        'video decoder cannot be caught or skipped (it ends the worker '
        'process); the file is probably damaged. Re-encode it or remove it '
        'from the list, then continue with --resume.')


@contextlib.contextmanager
def name_crashed_workers() -> Iterator[None]:
    """Turn the error of a DataLoader whose worker died while decoding a
    video into a :class:`BadVideoError` naming the video.

    PyTorch reports a dead worker as ``RuntimeError: DataLoader worker (pid
    N) ...``; when the worker dies after it sent a batch whose tensors the
    training process has not fetched yet, fetching them fails first, with a
    ``ConnectionError`` (or ``EOFError``) that names no worker.
    """
    try:
        yield
    except (RuntimeError, ConnectionError, EOFError) as err:
        named = _named_crash(err)
        if named is None:
            raise
        raise named from err
