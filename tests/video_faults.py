"""Damaged copies of the toy mp4 clips (OpenCV 'mp4v': MPEG-4 Part 2, a key
frame every 12 frames, the ``moov`` index after the ``mdat`` data).

* :func:`damage_middle`: the data of frames 12-19 (the second key frame and
  the frames that follow it) overwritten with zeros. The index is intact,
  so the file opens with all its frames; decoding any 16 consecutive frames
  of a 32-frame clip fails (``avcodec_send_packet``: invalid data).
* :func:`cut_after_header`: the index moved before the data, as streaming
  tools write it, and the file cut in the middle of frame 12's data, as an
  interrupted download leaves it; decord cannot open it.
* :func:`not_a_video`: text with an mp4 name.

``AbortOnVideo``, a pipeline transform registered when this module is
imported, ends its process with SIGABRT (as a failed assertion inside
FFmpeg does) when it meets a given video.
"""
import faulthandler
import os
import struct
from typing import Iterator, List, Optional, Tuple

from mmcv.transforms import BaseTransform

from mmaction.registry import TRANSFORMS


def _boxes(data: bytes, start: int,
           end: int) -> Iterator[Tuple[str, int, int]]:
    """(type, offset, size) of the ISO media boxes in data[start:end]."""
    at = start
    while at + 8 <= end:
        size, kind = struct.unpack('>I4s', data[at:at + 8])
        if size < 8:
            raise ValueError(f'unsupported box size {size} at {at}')
        yield kind.decode('latin1'), at, size
        at += size


def _find(data: bytes,
          path: List[str],
          start: int = 0,
          end: Optional[int] = None) -> Tuple[int, int]:
    """(offset, size) of the first box along ``path`` (['moov', 'trak'])."""
    end = len(data) if end is None else end
    for kind, at, size in _boxes(data, start, end):
        if kind == path[0]:
            if len(path) == 1:
                return at, size
            return _find(data, path[1:], at + 8, at + size)
    raise ValueError(f'no {path[0]!r} box')


def _sample_table(data: bytes) -> Tuple[int, int]:
    return _find(data, ['moov', 'trak', 'mdia', 'minf', 'stbl'])


def frame_ranges(data: bytes) -> List[Tuple[int, int]]:
    """(offset, size) in the file of every frame of the first track, from
    its sample table (stsz, stco, stsc)."""
    table, table_size = _sample_table(data)

    def body(kind):
        at, size = _find(data, [kind], table + 8, table + table_size)
        return data[at + 12:at + size]  # after size, type, version/flags

    sizes_box, chunks_box, map_box = body('stsz'), body('stco'), body('stsc')
    fixed, count = struct.unpack('>II', sizes_box[:8])
    sizes = [fixed] * count if fixed else list(
        struct.unpack(f'>{count}I', sizes_box[8:8 + 4 * count]))
    num_chunks = struct.unpack('>I', chunks_box[:4])[0]
    chunks = struct.unpack(f'>{num_chunks}I', chunks_box[4:4 + 4 * num_chunks])
    num_runs = struct.unpack('>I', map_box[:4])[0]
    runs = [
        struct.unpack('>III', map_box[4 + 12 * k:16 + 12 * k])
        for k in range(num_runs)
    ]
    ranges = []
    for chunk, offset in enumerate(chunks, start=1):
        per_chunk = [r[1] for r in runs if r[0] <= chunk][-1]
        for _ in range(per_chunk):
            size = sizes[len(ranges)]
            ranges.append((offset, size))
            offset += size
    return ranges


def damage_middle(src: str, dst: str, frames=(12, 19)) -> None:
    """Copy ``src`` to ``dst`` with the data of ``frames`` (first, last)
    zeroed."""
    data = bytearray(open(src, 'rb').read())
    ranges = frame_ranges(bytes(data))
    start = ranges[frames[0]][0]
    end = ranges[frames[1]][0] + ranges[frames[1]][1]
    data[start:end] = bytes(end - start)
    with open(dst, 'wb') as f:
        f.write(data)


def _index_first(data: bytes) -> bytes:
    """The file with its moov box moved before the media data (chunk
    offsets shifted by the size of moov)."""
    kinds = [(kind, at, size) for kind, at, size in _boxes(data, 0, len(data))]
    moov_at, moov_size = next(
        (at, size) for kind, at, size in kinds if kind == 'moov')
    moov = bytearray(data[moov_at:moov_at + moov_size])
    table, table_size = _sample_table(bytes(moov))
    stco, _ = _find(bytes(moov), ['stco'], table + 8, table + table_size)
    count = struct.unpack('>I', moov[stco + 12:stco + 16])[0]
    for k in range(count):
        at = stco + 16 + 4 * k
        offset = struct.unpack('>I', moov[at:at + 4])[0]
        moov[at:at + 4] = struct.pack('>I', offset + moov_size)
    head = [data[at:at + size] for kind, at, size in kinds if kind == 'ftyp']
    rest = [
        data[at:at + size] for kind, at, size in kinds
        if kind not in ('ftyp', 'moov')
    ]
    return b''.join(head + [bytes(moov)] + rest)


def cut_after_header(src: str, dst: str, frame: int = 12) -> None:
    """Copy ``src`` to ``dst`` index first and cut in the middle of the
    data of ``frame``."""
    data = _index_first(open(src, 'rb').read())
    offset, size = frame_ranges(data)[frame]
    with open(dst, 'wb') as f:
        f.write(data[:offset + size // 2])


def not_a_video(dst: str) -> None:
    with open(dst, 'w') as f:
        f.write('this is not a video\n' * 50)


@TRANSFORMS.register_module()
class AbortOnVideo(BaseTransform):
    """Call ``os.abort()`` for the video whose file name ends with
    ``name``; pass every other sample through."""

    def __init__(self, name: str) -> None:
        self.name = name

    def transform(self, results: dict) -> dict:
        if results['filename'].endswith(self.name):
            faulthandler.disable()  # no Python traceback on the test's stderr
            os.abort()
        return results
