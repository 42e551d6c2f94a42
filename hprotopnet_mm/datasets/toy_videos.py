"""Render toy action clips as arrays and write / read them as mp4 files.

A clip is drawn in two steps. :func:`sample_clip_params` draws every random
quantity of a clip from a ``numpy.random.Generator``; it does not know the
class, so the distribution of everything visible in the first frame (object
position and size, background offset, distractor, brightness, noise) is the
same for all leaves. :func:`render_clip_from_params` then draws the leaf's
scene, object and motion with those quantities. With one random state,
sibling leaves give the same first frame and differ only once the object
moves.
"""
import os
from dataclasses import dataclass
from typing import Optional, Tuple

import cv2
import numpy as np

from .toy_hierarchy import ToyHierarchy, ToyLeaf

# Sizes are fractions of the frame side, so clips look alike at any size.
OBJECT_RADIUS = 0.075  # of the frame side, before the per-clip scale
OBJECT_SCALE = (0.85, 1.15)
# Amplitudes of 7-12% of the side moved a sway by 4-8 px, too little to tell
# its speed profile apart (sways smooth and jerky stayed at chance; see the
# README's toy section); 10-16% keeps every motion visible.
AMPLITUDE = (0.10, 0.16)  # of the frame side
PERIOD = (8.0, 16.0)  # frames per motion cycle
DISTRACTOR_RADIUS = 0.6  # of the object radius
DISTRACTOR_SPEED = (0.6, 1.4)  # pixels per frame at a 64 pixel side
DISTRACTOR_TURN = 0.3  # std of the per-frame heading change, radians
DISTRACTOR_COLOURS = ((150, 90, 40), (150, 230, 110), (255, 150, 190),
                      (120, 60, 200))
BACKGROUND_TONES = (70.0, 120.0)
GAIN = (0.8, 1.2)
BIAS = (-12.0, 12.0)
NOISE_STD = (3.0, 8.0)
FIXED_POINT = 4  # fractional bits of cv2 drawing coordinates

_UNIT_POLYGONS = {
    'square': [(-0.85, -0.85), (0.85, -0.85), (0.85, 0.85), (-0.85, 0.85)],
    'triangle': [(0.0, -1.1), (1.0, 0.75), (-1.0, 0.75)],
    'diamond': [(0.0, -1.15), (1.15, 0.0), (0.0, 1.15), (-1.15, 0.0)],
    'cross': [(-0.35, -1.0), (0.35, -1.0), (0.35, -0.35), (1.0, -0.35),
              (1.0, 0.35), (0.35, 0.35), (0.35, 1.0), (-0.35, 1.0),
              (-0.35, 0.35), (-1.0, 0.35), (-1.0, -0.35), (-0.35, -0.35)],
    'hexagon':
    [(np.cos(a), np.sin(a)) for a in np.arange(6) * np.pi / 3 + np.pi / 6],
    'star': [((1.15 if i % 2 == 0 else 0.5) * np.sin(i * np.pi / 5),
              -(1.15 if i % 2 == 0 else 0.5) * np.cos(i * np.pi / 5))
             for i in range(10)],
}
MAX_SHAPE_EXTENT = 1.15  # largest |coordinate| of any unit shape


@dataclass(frozen=True)
class ClipParams:
    """Every random quantity of one clip; none depends on the class.

    Positions are (x, y) pixel coordinates of shape centres.

    Attributes:
        size (int): Frame side in pixels (frames are square).
        num_frames (int): Number of frames T.
        background_offset (tuple[int, int]): Texture shift (x, y) in pixels.
        object_radius (float): Object radius in pixels.
        start (tuple[float, float]): Object centre in the first frame.
        amplitude (float): Motion amplitude in pixels.
        period (float): Frames per motion cycle.
        phase (float): Motion phase at the first frame, radians.
        distractor_track (np.ndarray): (T, 2) distractor centres.
        distractor_radius (float): Distractor radius in pixels.
        distractor_colour (tuple[int, int, int]): Distractor RGB colour.
        gain (float): Brightness gain of the whole clip.
        bias (float): Brightness offset of the whole clip.
        noise_std (float): Std of the Gaussian pixel noise.
        noise_seed (int): Seed of the noise generator.
    """
    size: int
    num_frames: int
    background_offset: Tuple[int, int]
    object_radius: float
    start: Tuple[float, float]
    amplitude: float
    period: float
    phase: float
    distractor_track: np.ndarray
    distractor_radius: float
    distractor_colour: Tuple[int, int, int]
    gain: float
    bias: float
    noise_std: float
    noise_seed: int


def texture_period(size: int) -> int:
    """Period in pixels of every background texture (even, >= 4)."""
    return max(4, 2 * round(size / 16))


def start_margin(size: int) -> float:
    """Smallest distance from the frame border to the object's first centre.

    Every motion keeps each coordinate within one amplitude of its cycle
    centre, so within two amplitudes of the first position; with this margin
    the whole object stays inside the frame in every frame.
    """
    max_radius = OBJECT_RADIUS * OBJECT_SCALE[1] * size * MAX_SHAPE_EXTENT
    return max_radius + 2 * AMPLITUDE[1] * size


def check_clip_size(size: int, num_frames: int) -> None:
    """Raise ``ValueError`` unless ``size`` and ``num_frames`` are usable."""
    if not isinstance(size, int) or isinstance(size, bool) or size < 16 \
            or size % 2:
        raise ValueError(f'clip size must be an even int >= 16 (mp4 frames '
                         f'need even sides), got {size!r}')
    if not isinstance(num_frames, int) or isinstance(num_frames, bool) \
            or num_frames < 1:
        raise ValueError(f'num_frames must be a positive int, got '
                         f'{num_frames!r}')


def _distractor_track(rng: np.random.Generator, size: int, num_frames: int,
                      radius: float) -> np.ndarray:
    """A wandering walk that bounces off the frame border: (T, 2)."""
    low, high = radius, size - radius
    position = rng.uniform(low, high, size=2)
    speed = rng.uniform(*DISTRACTOR_SPEED) * size / 64
    heading = rng.uniform(0, 2 * np.pi)
    turns = rng.normal(0, DISTRACTOR_TURN, size=num_frames)
    velocity = speed * np.array([np.cos(heading), np.sin(heading)])
    track = np.empty((num_frames, 2))
    for t in range(num_frames):
        track[t] = position
        cos, sin = np.cos(turns[t]), np.sin(turns[t])
        velocity = np.array([
            cos * velocity[0] - sin * velocity[1],
            sin * velocity[0] + cos * velocity[1]
        ])
        position = position + velocity
        for axis in range(2):
            if position[axis] < low:
                position[axis] = 2 * low - position[axis]
                velocity[axis] = -velocity[axis]
            elif position[axis] > high:
                position[axis] = 2 * high - position[axis]
                velocity[axis] = -velocity[axis]
    return track


def sample_clip_params(rng: np.random.Generator,
                       size: int = 64,
                       num_frames: int = 32) -> ClipParams:
    """Draw the random quantities of one clip (class independent).

    Args:
        rng (np.random.Generator): Source of randomness; advanced in a fixed
            order, so one seed gives one clip.
        size (int): Frame side in pixels, even and >= 16.
        num_frames (int): Number of frames.

    Returns:
        ClipParams: The clip's random quantities.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f'rng must be a numpy.random.Generator, got '
                        f'{type(rng).__name__}')
    check_clip_size(size, num_frames)
    period = texture_period(size)
    background_offset = tuple(int(v) for v in rng.integers(0, period, 2))
    object_radius = OBJECT_RADIUS * size * rng.uniform(*OBJECT_SCALE)
    margin = start_margin(size)
    start = tuple(float(v) for v in rng.uniform(margin, size - margin, 2))
    amplitude = rng.uniform(*AMPLITUDE) * size
    motion_period = rng.uniform(*PERIOD)
    phase = rng.uniform(0, 2 * np.pi)
    distractor_radius = DISTRACTOR_RADIUS * object_radius
    track = _distractor_track(rng, size, num_frames, distractor_radius)
    colour = DISTRACTOR_COLOURS[rng.integers(len(DISTRACTOR_COLOURS))]
    return ClipParams(
        size=size,
        num_frames=num_frames,
        background_offset=background_offset,
        object_radius=float(object_radius),
        start=start,
        amplitude=float(amplitude),
        period=float(motion_period),
        phase=float(phase),
        distractor_track=track,
        distractor_radius=float(distractor_radius),
        distractor_colour=colour,
        gain=float(rng.uniform(*GAIN)),
        bias=float(rng.uniform(*BIAS)),
        noise_std=float(rng.uniform(*NOISE_STD)),
        noise_seed=int(rng.integers(2**32)))


def _check_mix(hierarchy: ToyHierarchy, leaf: int, sibling: Optional[int],
               weight: float) -> Tuple[ToyLeaf, Optional[ToyLeaf]]:
    main = hierarchy.check_leaf(leaf)
    if sibling is None:
        if weight != 0:
            raise ValueError(f'weight={weight} needs a sibling leaf to mix '
                             'with')
        return main, None
    other = hierarchy.check_leaf(sibling)
    if sibling not in hierarchy.siblings(leaf):
        raise ValueError(f'leaf {sibling} ({other.name}) is not a sibling of '
                         f'leaf {leaf} ({main.name})')
    if not 0 <= weight <= 1:
        raise ValueError(f'weight must lie in [0, 1], got {weight}')
    return main, other


def object_track(hierarchy: ToyHierarchy,
                 leaf: int,
                 params: ClipParams,
                 sibling: Optional[int] = None,
                 weight: float = 0.0) -> np.ndarray:
    """Object centres of a clip.

    The unit displacement is ``(1 - weight) * d_leaf + weight * d_sibling``
    at phase ``phase + 2 pi t / period``, shifted so that frame 0 sits at
    ``params.start``.

    Args:
        hierarchy (ToyHierarchy): The toy tree.
        leaf (int): Leaf label.
        params (ClipParams): The clip's random quantities.
        sibling (int, optional): A sibling leaf whose motion is mixed in.
        weight (float): Share of the sibling's motion, in [0, 1].

    Returns:
        np.ndarray: (T, 2) float (x, y) centres in pixels.
    """
    main, other = _check_mix(hierarchy, leaf, sibling, weight)
    theta = params.phase + 2 * np.pi * np.arange(params.num_frames) \
        / params.period
    unit = main.motion.displacement(theta)
    if other is not None:
        unit = (1 - weight) * unit + weight * other.motion.displacement(theta)
    return np.asarray(params.start) + params.amplitude * (unit - unit[:1])


def _fixed(points: np.ndarray) -> np.ndarray:
    return np.round(points * (1 << FIXED_POINT)).astype(np.int32)


def draw_shape(canvas: np.ndarray, shape: str, centre: np.ndarray,
               radius: float) -> None:
    """Draw an anti-aliased shape mask (value 255) into a uint8 canvas.

    Args:
        canvas (np.ndarray): (H, W) uint8, drawn in place.
        shape (str): 'disk', 'ring' or a key of the unit polygons.
        centre (np.ndarray): (2,) (x, y) centre in pixels.
        radius (float): Radius in pixels.
    """
    if shape in ('disk', 'ring'):
        c = tuple(int(v) for v in _fixed(np.asarray(centre)))
        cv2.circle(canvas, c, int(_fixed(np.float64(radius))), 255, -1,
                   cv2.LINE_AA, FIXED_POINT)
        if shape == 'ring':
            cv2.circle(canvas, c, int(_fixed(np.float64(0.55 * radius))), 0,
                       -1, cv2.LINE_AA, FIXED_POINT)
        return
    if shape not in _UNIT_POLYGONS:
        raise ValueError(f'unknown toy shape {shape!r}; known: disk, ring, '
                         f'{", ".join(_UNIT_POLYGONS)}')
    points = np.asarray(centre) + radius * np.asarray(_UNIT_POLYGONS[shape])
    cv2.fillPoly(canvas, [_fixed(points)], 255, cv2.LINE_AA, FIXED_POINT)


def render_background(texture: str, size: int,
                      offset: Tuple[int, int]) -> np.ndarray:
    """Background texture in [0, 1]: (size, size) float32.

    Args:
        texture (str): 'stripes', 'dots', 'checkers' or 'hatching'.
        size (int): Frame side in pixels.
        offset (tuple[int, int]): Texture shift (x, y) in pixels.
    """
    period = texture_period(size)
    half = period // 2
    y, x = np.mgrid[0:size, 0:size]
    x, y = x + offset[0], y + offset[1]
    if texture == 'stripes':
        pattern = (y // half) % 2
    elif texture == 'checkers':
        pattern = (x // half + y // half) % 2
    elif texture == 'hatching':
        pattern = ((x + y) // half) % 2
    elif texture == 'dots':
        dx, dy = x % period - half + 0.5, y % period - half + 0.5
        pattern = np.clip(period / 4 + 0.5 - np.hypot(dx, dy), 0, 1)
    else:
        raise ValueError(f'unknown toy texture {texture!r}')
    return pattern.astype(np.float32)


def _blend(frame: np.ndarray, mask: np.ndarray, colour) -> None:
    alpha = mask.astype(np.float32)[..., None] / 255
    frame *= 1 - alpha
    frame += alpha * np.asarray(colour, dtype=np.float32)


def render_clip_from_params(hierarchy: ToyHierarchy,
                            leaf: int,
                            params: ClipParams,
                            sibling: Optional[int] = None,
                            weight: float = 0.0) -> np.ndarray:
    """Draw a clip of ``leaf`` (optionally mixed with a sibling's motion).

    Args:
        hierarchy (ToyHierarchy): The toy tree.
        leaf (int): Leaf label; gives scene, object and motion.
        params (ClipParams): The clip's random quantities.
        sibling (int, optional): A sibling leaf whose motion is mixed in
            (see :func:`object_track`).
        weight (float): Share of the sibling's motion, in [0, 1].

    Returns:
        np.ndarray: (T, H, W, 3) uint8 RGB frames, H == W == params.size.
    """
    main = hierarchy.check_leaf(leaf)
    track = object_track(hierarchy, leaf, params, sibling, weight)
    size, num_frames = params.size, params.num_frames
    low, high = BACKGROUND_TONES
    background = low + (high - low) * render_background(
        main.scene.texture, size, params.background_offset)
    background = np.repeat(background[..., None], 3, axis=-1)
    noise = np.random.default_rng(params.noise_seed).standard_normal(
        (num_frames, size, size, 3), dtype=np.float32)
    clip = np.empty((num_frames, size, size, 3), dtype=np.uint8)
    mask = np.empty((size, size), dtype=np.uint8)
    for t in range(num_frames):
        frame = background.copy()
        mask.fill(0)
        draw_shape(mask, 'disk', params.distractor_track[t],
                   params.distractor_radius)
        _blend(frame, mask, params.distractor_colour)
        mask.fill(0)
        draw_shape(mask, main.obj.shape, track[t], params.object_radius)
        _blend(frame, mask, main.obj.colour)
        frame = frame * params.gain + params.bias \
            + params.noise_std * noise[t]
        clip[t] = np.clip(np.rint(frame), 0, 255).astype(np.uint8)
    return clip


def render_clip(hierarchy: ToyHierarchy,
                leaf: int,
                rng: np.random.Generator,
                sibling: Optional[int] = None,
                weight: float = 0.0,
                size: int = 64,
                num_frames: int = 32) -> np.ndarray:
    """Draw a random clip of ``leaf``; see :func:`render_clip_from_params`.

    Returns:
        np.ndarray: (T, H, W, 3) uint8 RGB frames.
    """
    params = sample_clip_params(rng, size, num_frames)
    return render_clip_from_params(hierarchy, leaf, params, sibling, weight)


def write_video(path: str, frames: np.ndarray, fps: float = 8) -> None:
    """Write RGB frames to an mp4 file (MPEG-4 Part 2, fourcc 'mp4v').

    Args:
        path (str): Output file; its folder must exist.
        frames (np.ndarray): (T, H, W, 3) uint8 RGB, H and W even.
        fps (float): Frames per second stored in the file.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f'{path}: frames must be a (T, H, W, 3) uint8 '
                         f'array, got {frames.shape} {frames.dtype}')
    num_frames, height, width = frames.shape[:3]
    if num_frames < 1 or height % 2 or width % 2:
        raise ValueError(f'{path}: need at least one frame with even height '
                         f'and width, got {frames.shape}')
    if not fps > 0:
        raise ValueError(f'{path}: fps must be positive, got {fps}')
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), fps,
                             (width, height))
    if not writer.isOpened():
        raise OSError(f'{path}: OpenCV could not open an mp4v video writer')
    try:
        for frame in frames:
            writer.write(np.ascontiguousarray(frame[..., ::-1]))
    finally:
        writer.release()
    if not os.path.isfile(path) or os.path.getsize(path) == 0:
        raise OSError(f'{path}: OpenCV wrote no video data')


def read_video(path: str) -> np.ndarray:
    """Decode every frame of a video with decord: (T, H, W, 3) uint8 RGB."""
    import decord
    reader = decord.VideoReader(path)
    return reader.get_batch(list(range(len(reader)))).asnumpy()
