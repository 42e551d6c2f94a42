"""Animated GIFs of clips with activation heat maps and boxes (Pillow)."""
import io
from typing import Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw

Box = Tuple[int, int, int, int]

#: Colours of the boxes: high-activation region, projected patch.
ACTIVATION_BOX = (255, 255, 0)
PATCH_BOX = (0, 255, 0)


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


def animated_gif(frames: np.ndarray,
                 boxes: Sequence[Sequence[Tuple[Box, Tuple[int, int, int]]]],
                 labels: Optional[Sequence[str]] = None,
                 dimmed: Optional[Sequence[bool]] = None,
                 start: int = 0,
                 scale: int = 4,
                 duration_ms: int = 150) -> bytes:
    """Encode frames as a looping animated GIF with boxes.

    Args:
        frames (np.ndarray): (T, H, W, 3) uint8 RGB.
        boxes (Sequence): Per frame, a list of ``((x0, y0, x1, y1), rgb)``
            in frame pixels (ends exclusive).
        labels (Sequence[str], optional): Per frame, a caption drawn in the
            top-left corner.
        dimmed (Sequence[bool], optional): Per frame, whether to darken it.
        start (int): Frame the animation starts with; the frames keep their
            order and the loop wraps around to the frames before it.
        scale (int): Integer enlargement (nearest neighbour), so that the
            pixels the model saw stay visible.
        duration_ms (int): Display time of a frame.

    Returns:
        bytes: The GIF file.
    """
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise ValueError(f'expected (T, H, W, 3) frames, got {frames.shape}')
    if len(boxes) != len(frames):
        raise ValueError(f'{len(boxes)} box lists for {len(frames)} frames')
    if not 0 <= start < len(frames):
        raise ValueError(f'start frame {start} outside [0, {len(frames)})')
    images = []
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
        images.append(image.quantize(colors=255, dither=Image.Dither.NONE))
    buffer = io.BytesIO()
    images[0].save(
        buffer,
        format='GIF',
        save_all=True,
        append_images=images[1:],
        duration=duration_ms,
        loop=0,
        disposal=1)
    return buffer.getvalue()
