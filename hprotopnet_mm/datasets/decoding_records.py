"""The video each DataLoader worker is decoding, so that a worker killed by a
decoder crash is reported with its video.

A crash inside FFmpeg (a failed assertion, a segmentation fault) cannot be
caught: it ends the worker process, and PyTorch's DataLoader raises a bare
``DataLoader worker (pid N) is killed by signal: Aborted.`` in the training
process. Before each sample a worker writes the video it is about to decode
into a small file named after its process id, in a folder the training
process made (:class:`DecodingRecord`), and empties it when the sample is
done. :func:`name_crashed_workers` turns the DataLoader's error into a
:class:`BadVideoError` that names the video.
"""
import atexit
import contextlib
import os
import os.path as osp
import re
import shutil
import tempfile
from multiprocessing.util import Finalize
from typing import Iterator, List, Optional, Tuple

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


def crashed_worker_videos(message: str) -> List[Tuple[int, str]]:
    """(pid, video) of the workers named in a DataLoader error message that
    were decoding a video when they died; their records are removed."""
    match = _WORKER_PIDS.search(message)
    if match is None or _folder is None or _folder_owner != os.getpid():
        return []
    found = []
    for pid in (int(p) for p in match.group(1).split(',') if p.strip()):
        path = osp.join(_folder, str(pid))
        try:
            with open(path) as f:
                text = f.read().strip()
        except FileNotFoundError:
            continue
        _remove(path)
        if text:
            found.append((pid, text))
    return found


@contextlib.contextmanager
def name_crashed_workers() -> Iterator[None]:
    """Turn the RuntimeError of a DataLoader whose worker died while
    decoding a video into a :class:`BadVideoError` naming the video."""
    try:
        yield
    except RuntimeError as err:
        found = crashed_worker_videos(str(err))
        if not found:
            raise
        videos = '\n'.join(f'  worker {pid}: {video}' for pid, video in found)
        raise BadVideoError(
            f'{str(err).strip()}\nThe worker was decoding:\n{videos}\nA crash '
            'inside the video decoder cannot be caught or skipped (it ends '
            'the worker process); the file is probably damaged. Re-encode it '
            'or remove it from the list, then continue with --resume.'
        ) from err
