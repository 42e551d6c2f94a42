"""The class tree of the toy action dataset: scene > object > motion.

Every level is told apart by a different visual cue:

* grandparent - the background texture (a *scene*), visible in any frame;
* parent - the shape and colour of the moving object, visible in any frame;
* leaf - how the object moves, visible only across frames.

Siblings therefore share background and object and differ only in motion;
cousins share only the background.
"""
from dataclasses import dataclass
from typing import Callable, List, Tuple

import numpy as np

LEVEL_NAMES = ('leaf', 'parent', 'grandparent')


@dataclass(frozen=True)
class Scene:
    """A background texture family (grandparent level)."""
    name: str
    texture: str
    description: str


@dataclass(frozen=True)
class SceneObject:
    """The moving object: a shape filled with one colour (parent level)."""
    name: str
    shape: str
    colour: Tuple[int, int, int]


@dataclass(frozen=True)
class Motion:
    """A periodic motion pattern of the object (leaf level).

    ``displacement`` maps phase angles of shape (T,) to unit displacements of
    shape (T, 2) as (x, y) in image axes (y points down), every coordinate in
    [-1, 1]; the renderer scales them by the clip's amplitude in pixels.
    """
    name: str
    displacement: Callable[[np.ndarray], np.ndarray]
    description: str


def _xy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.stack([x, y], axis=-1)


def _slide_horizontal(theta):
    return _xy(np.sin(theta), np.zeros_like(theta))


def _slide_vertical(theta):
    return _xy(np.zeros_like(theta), np.sin(theta))


def _slide_diagonal(theta):
    return _xy(np.sin(theta), -np.sin(theta))


def _circle_clockwise(theta):
    # With y pointing down, increasing angle turns clockwise on screen.
    return _xy(np.cos(theta), np.sin(theta))


def _circle_counterclockwise(theta):
    return _xy(np.cos(theta), -np.sin(theta))


def _figure_eight(theta):
    return _xy(np.sin(theta), np.sin(2 * theta))


def _sway_smooth(theta):
    return _xy(np.sin(theta), np.zeros_like(theta))


def _sway_jerky(theta):
    # A rounded square wave: the object rests at either end and darts across.
    return _xy(np.tanh(3 * np.sin(theta)) / np.tanh(3), np.zeros_like(theta))


def _sway_steady(theta):
    # A triangle wave: constant speed, sharp turns.
    return _xy(2 / np.pi * np.arcsin(np.sin(theta)), np.zeros_like(theta))


SCENES: Tuple[Scene, ...] = (
    Scene('striped_scene', 'stripes', 'horizontal stripes'),
    Scene('dotted_scene', 'dots', 'a grid of dots'),
    Scene('checkered_scene', 'checkers', 'a checkerboard'),
    Scene('hatched_scene', 'hatching', 'diagonal stripes'),
)

OBJECTS: Tuple[SceneObject, ...] = (
    SceneObject('red_square', 'square', (220, 40, 40)),
    SceneObject('blue_disk', 'disk', (40, 90, 235)),
    SceneObject('green_triangle', 'triangle', (40, 190, 70)),
    SceneObject('yellow_diamond', 'diamond', (235, 210, 40)),
    SceneObject('magenta_cross', 'cross', (215, 50, 205)),
    SceneObject('cyan_ring', 'ring', (40, 205, 215)),
    SceneObject('orange_hexagon', 'hexagon', (245, 140, 30)),
    SceneObject('white_star', 'star', (245, 245, 245)),
)

MOTION_FAMILIES: Tuple[Tuple[Motion, ...], ...] = (
    (Motion('slide_horizontal', _slide_horizontal,
            'slides back and forth left-right'),
     Motion('slide_vertical', _slide_vertical,
            'slides back and forth up-down'),
     Motion('slide_diagonal', _slide_diagonal,
            'slides back and forth along the rising diagonal')),
    (Motion('circle_clockwise', _circle_clockwise, 'circles clockwise'),
     Motion('circle_counterclockwise', _circle_counterclockwise,
            'circles counterclockwise'),
     Motion('figure_eight', _figure_eight, 'traces a figure eight')),
    (Motion('sway_smooth', _sway_smooth,
            'sways left-right, slowing smoothly at the ends'),
     Motion('sway_jerky', _sway_jerky,
            'sways left-right, resting at the ends and darting across'),
     Motion('sway_steady', _sway_steady,
            'sways left-right at constant speed, turning sharply')),
)


@dataclass(frozen=True)
class ToyLeaf:
    """One leaf class with the cues of its three levels."""
    name: str
    scene: Scene
    obj: SceneObject
    motion: Motion

    @property
    def parent(self) -> str:
        return self.obj.name

    @property
    def grandparent(self) -> str:
        return self.scene.name


@dataclass(frozen=True)
class ToyHierarchy:
    """The leaves of the toy tree; label index == position in ``leaves``."""
    leaves: Tuple[ToyLeaf, ...]

    @property
    def leaf_names(self) -> List[str]:
        return [leaf.name for leaf in self.leaves]

    @property
    def num_leaves(self) -> int:
        return len(self.leaves)

    def check_leaf(self, leaf: int) -> ToyLeaf:
        """Return the leaf with label ``leaf`` or raise ``IndexError``."""
        if not isinstance(leaf, (int, np.integer)) or isinstance(leaf, bool):
            raise TypeError(f'leaf label must be an int, got {leaf!r}')
        if not 0 <= leaf < self.num_leaves:
            raise IndexError(f'leaf label {leaf} is outside the toy '
                             f'hierarchy (0..{self.num_leaves - 1})')
        return self.leaves[leaf]

    def siblings(self, leaf: int) -> List[int]:
        """Labels of the other leaves under the same parent."""
        parent = self.check_leaf(leaf).parent
        return [
            j for j, other in enumerate(self.leaves)
            if other.parent == parent and j != leaf
        ]

    def rows(self) -> List[Tuple[str, str, str]]:
        """(leaf, parent, grandparent) per leaf, in label order."""
        return [(leaf.name, leaf.parent, leaf.grandparent)
                for leaf in self.leaves]


def build_toy_hierarchy(num_grandparents: int = 3,
                        num_parents: int = 2,
                        num_leaves: int = 2) -> ToyHierarchy:
    """Build the toy tree.

    Leaves are ordered grandparent-major: grandparent ``g`` holds parents
    ``g * num_parents ... (g + 1) * num_parents - 1`` (objects in
    :data:`OBJECTS` order); parent ``p`` holds the first ``num_leaves``
    motions of the family ``MOTION_FAMILIES[p % len(MOTION_FAMILIES)]``.

    Args:
        num_grandparents (int): Background scenes, 1..len(SCENES).
        num_parents (int): Objects per scene; num_grandparents * num_parents
            must not exceed len(OBJECTS).
        num_leaves (int): Motions per object, 2..3 (siblings are needed to
            build ambiguous clips).

    Returns:
        ToyHierarchy: num_grandparents * num_parents * num_leaves leaves.
    """
    max_leaves = min(len(family) for family in MOTION_FAMILIES)
    for name, value, low, high in (
        ('num_grandparents', num_grandparents, 1, len(SCENES)),
        ('num_parents', num_parents, 1, len(OBJECTS)),
        ('num_leaves', num_leaves, 2, max_leaves),
    ):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f'{name} must be an int, got {value!r}')
        if not low <= value <= high:
            raise ValueError(
                f'{name} must lie in [{low}, {high}], got {value}')
    if num_grandparents * num_parents > len(OBJECTS):
        raise ValueError(
            f'num_grandparents * num_parents = '
            f'{num_grandparents * num_parents} exceeds the {len(OBJECTS)} '
            'distinct objects of the toy dataset')
    leaves = []
    for g in range(num_grandparents):
        for p in range(g * num_parents, (g + 1) * num_parents):
            obj = OBJECTS[p]
            family = MOTION_FAMILIES[p % len(MOTION_FAMILIES)]
            for motion in family[:num_leaves]:
                leaves.append(
                    ToyLeaf(f'{obj.name}_{motion.name}', SCENES[g], obj,
                            motion))
    return ToyHierarchy(tuple(leaves))
