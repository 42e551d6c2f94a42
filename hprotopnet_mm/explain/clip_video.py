"""Short WebM videos of clips with activation heat maps and boxes.

The report embeds every clip as a VP8 WebM video (OpenCV's FFmpeg writer),
which browsers play natively and which is about ten times smaller than the
same frames as an animated GIF.
"""
import os
import tempfile
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np
from PIL import Image, ImageDraw

Box = Tuple[int, int, int, int]

#: Colours of the boxes: high-activation region, projected patch.
ACTIVATION_BOX = (255, 255, 0)
PATCH_BOX = (0, 255, 0)
#: Side in pixels that the clips are enlarged to, about.
DISPLAY_SIDE = 224


def heat_overlay(frames: np.ndarray,
                 activation: np.ndarray,
                 alpha: float = 0.45) -> np.ndarray:
    """Blend a jet-coloured activation map over the frames.

    The map is scaled to [0, 1] by its minimum and maximum over the whole
    clip (one scale for all frames, so frames can be compared).

    Args:
        frames (np.ndarray): (T, H, W, 3) uint8 RGB.
        activation (np.ndarray): (T, H, W) float.
        alpha (float): Weight of the heat map.

    Returns:
        np.ndarray: (T, H, W, 3) uint8.
    """
    from matplotlib import colormaps

    if activation.shape != frames.shape[:3]:
        raise ValueError(f'activation map {activation.shape} does not match '
                         f'the frames {frames.shape[:3]}')
    low, high = float(activation.min()), float(activation.max())
    scaled = (activation - low) / (high - low) if high > low else \
        np.zeros_like(activation)
    heat = colormaps['jet'](scaled)[..., :3] * 255
    blend = (1 - alpha) * frames.astype(np.float64) + alpha * heat
    return np.clip(np.rint(blend), 0, 255).astype(np.uint8)


def display_scale(height: int, width: int) -> int:
    """Integer enlargement that brings the longer side near
    :data:`DISPLAY_SIDE` (at least 1)."""
    return max(1, round(DISPLAY_SIDE / max(height, width)))


def frame_labels(frame_inds: Sequence[int], num: int) -> Optional[List[str]]:
    """Captions 'frame i' of the ``num`` frames of a clip (None if the
    frame indices are unknown)."""
    if len(frame_inds) != num:
        return None
    return [f'frame {i}' for i in frame_inds]


def annotate_frames(frames: np.ndarray,
                    boxes: Sequence[Sequence[Tuple[Box, Tuple[int, int,
                                                              int]]]],
                    labels: Optional[Sequence[str]] = None,
                    dimmed: Optional[Sequence[bool]] = None,
                    start: int = 0,
                    scale: int = 4) -> np.ndarray:
    """Enlarge frames and draw boxes and captions on them.

    Args:
        frames (np.ndarray): (T, H, W, 3) uint8 RGB.
        boxes (Sequence): Per frame, a list of ``((x0, y0, x1, y1), rgb)``
            in frame pixels (ends exclusive).
        labels (Sequence[str], optional): Per frame, a caption drawn in the
            top-left corner.
        dimmed (Sequence[bool], optional): Per frame, whether to darken it.
        start (int): Frame to show first; the frames keep their order and
            wrap around to the frames before it.
        scale (int): Integer enlargement (nearest neighbour), so that the
            pixels the model saw stay visible.

    Returns:
        np.ndarray: (T, H * scale, W * scale, 3) uint8 RGB.
    """
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise ValueError(f'expected (T, H, W, 3) frames, got {frames.shape}')
    if len(boxes) != len(frames):
        raise ValueError(f'{len(boxes)} box lists for {len(frames)} frames')
    if not 0 <= start < len(frames):
        raise ValueError(f'start frame {start} outside [0, {len(frames)})')
    out = []
    for t in list(range(start, len(frames))) + list(range(start)):
        frame = frames[t]
        if dimmed is not None and dimmed[t]:
            frame = (frame.astype(np.float64) * 0.45).astype(np.uint8)
        image = Image.fromarray(frame).resize(
            (frame.shape[1] * scale, frame.shape[0] * scale), Image.NEAREST)
        draw = ImageDraw.Draw(image)
        for (x0, y0, x1, y1), colour in boxes[t]:
            draw.rectangle(
                (x0 * scale, y0 * scale, x1 * scale - 1, y1 * scale - 1),
                outline=colour,
                width=2)
        if labels is not None:
            draw.text((3, 2),
                      labels[t],
                      fill=(255, 255, 255),
                      stroke_width=1,
                      stroke_fill=(0, 0, 0))
        out.append(np.asarray(image))
    return np.stack(out)


def encode_webm(frames: np.ndarray, fps: float = 6.0) -> bytes:
    """Encode frames as a VP8 WebM video.

    Args:
        frames (np.ndarray): (T, H, W, 3) uint8 RGB; an odd side gets its
            last row or column repeated.
        fps (float): Frames per second.

    Returns:
        bytes: The WebM file.

    Raises:
        RuntimeError: If OpenCV has no VP8 encoder or writes nothing.
    """
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f'expected (T, H, W, 3) uint8 frames, got '
                         f'{frames.shape} {frames.dtype}')
    # 4:2:0 chroma needs even sides: repeat the last row / column
    frames = np.pad(
        frames,
        ((0, 0), (0, frames.shape[1] % 2), (0, frames.shape[2] % 2), (0, 0)),
        mode='edge')
    height, width = frames.shape[1:3]
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, 'clip.webm')
        writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'VP80'), fps,
                                 (width, height))
        if not writer.isOpened():
            raise RuntimeError('OpenCV could not open a VP8 (WebM) video '
                               'writer; it needs an FFmpeg build with libvpx')
        try:
            for frame in frames:
                writer.write(np.ascontiguousarray(frame[..., ::-1]))
        finally:
            writer.release()
        with open(path, 'rb') as f:
            data = f.read()
    if not data:
        raise RuntimeError('OpenCV wrote an empty WebM video')
    return data


def clip_video(frames: np.ndarray,
               boxes: Sequence[Sequence[Tuple[Box, Tuple[int, int, int]]]],
               labels: Optional[Sequence[str]] = None,
               dimmed: Optional[Sequence[bool]] = None,
               start: int = 0,
               scale: Optional[int] = None,
               fps: float = 6.0) -> bytes:
    """:func:`annotate_frames`, then :func:`encode_webm`: a looping clip of
    the report, enlarged ``scale`` times (None: :func:`display_scale`)."""
    scale = scale or display_scale(*frames.shape[1:3])
    return encode_webm(
        annotate_frames(frames, boxes, labels, dimmed, start, scale), fps)
