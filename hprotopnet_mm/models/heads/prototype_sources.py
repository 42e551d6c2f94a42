"""Provenance of projected prototypes: which training patch each one is.

A prototype head keeps a :class:`PrototypeSources` (None until the first
projection) and saves it with its state dict as plain types (``to_plain``),
so checkpoints stay loadable with ``torch.load(weights_only=True)``; the
plain dicts of checkpoints written before these classes existed have the
same layout and load too (``from_plain``).
"""
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Dict, List, Optional


@dataclass
class PatchSource:
    """The training patch a prototype was projected onto.

    Attributes:
        dataset_index (int): Index of the clip in the projection dataset.
        filename (str, optional): Its video file.
        frame_inds (list[int], optional): Frames the pipeline sampled.
        num_views (int): Views (clips) the pipeline made of the sample.
        view (int): The view the patch comes from.
        label (int): The clip's leaf label.
        cell (list[int]): ``[t, h, w]``, start of the patch in ``z``.
        grid (list[int]): Patch positions ``[T', H', W']`` of ``z``.
        feature_size (list[int]): ``[T, H, W]`` of ``z``.
        distance (float): Squared L2 distance of the prototype before the
            projection to the patch.
        node (int, optional): The prototype's hierarchy node.
        node_name (str, optional): Its name.
        label_name (str, optional): Name of the clip's leaf.
    """
    dataset_index: int
    filename: Optional[str]
    frame_inds: Optional[List[int]]
    num_views: int
    view: int
    label: int
    cell: List[int]
    grid: List[int]
    feature_size: List[int]
    distance: float
    node: Optional[int] = None
    node_name: Optional[str] = None
    label_name: Optional[str] = None

    @property
    def location(self) -> tuple:
        """``(dataset_index, view, *cell)``: two records with the same
        location name the same patch."""
        return (self.dataset_index, self.view, *self.cell)

    def to_plain(self) -> Dict:
        """The record as a dict of plain types."""
        return asdict(self)

    @classmethod
    def from_plain(cls, value: Dict, where: str) -> 'PatchSource':
        """Read a record written by :meth:`to_plain`.

        Args:
            value (dict): The plain record.
            where (str): Names the record in error messages.
        """
        _check_keys(cls, value, where)
        return cls(**value)


@dataclass
class PrototypeSources:
    """Provenance of all prototypes of a head after a projection.

    Attributes:
        prototypes (list[PatchSource | None]): One record per prototype;
            None for a prototype that had no candidate patch.
        prototype_shape (list[int]): ``[t, h, w]`` of the prototypes.
        pruned (list[int]): Prototypes deactivated by pruning (their
            last-layer columns are kept at 0).
        epoch (int, optional): Training epochs done before the projection.
    """
    prototypes: List[Optional[PatchSource]]
    prototype_shape: List[int]
    pruned: List[int] = field(default_factory=list)
    epoch: Optional[int] = None

    def to_plain(self) -> Dict:
        """The provenance as a dict of plain types (the checkpoint format)."""
        return dict(
            epoch=self.epoch,
            prototype_shape=list(self.prototype_shape),
            prototypes=[
                None if p is None else p.to_plain() for p in self.prototypes
            ],
            pruned=list(self.pruned))

    @classmethod
    def from_plain(cls, value: Dict, where: str) -> 'PrototypeSources':
        """Read provenance written by :meth:`to_plain`.

        Args:
            value (dict): The plain provenance.
            where (str): Names it in error messages.

        Raises:
            ValueError: On a value that is not such a dict, naming the key.
        """
        _check_keys(cls, value, where)
        records = value.get('prototypes')
        if not isinstance(records, list):
            raise ValueError(f'{where}["prototypes"] must be a list, got '
                             f'{type(records).__name__}')
        return cls(
            prototypes=[
                None if record is None else PatchSource.from_plain(
                    record, f'{where}["prototypes"][{p}]')
                for p, record in enumerate(records)
            ],
            prototype_shape=list(value['prototype_shape']),
            pruned=[int(p) for p in value.get('pruned', [])],
            epoch=value.get('epoch'))


def _check_keys(cls, value, where: str) -> None:
    """Raise unless ``value`` is a dict with the required fields of the
    dataclass ``cls`` and no others."""
    if not isinstance(value, dict):
        raise ValueError(f'{where} must be a dict, got {type(value).__name__}')
    known = {f.name for f in fields(cls)}
    required = {
        f.name
        for f in fields(cls)
        if f.default is MISSING and f.default_factory is MISSING
    }
    missing = sorted(required - set(value))
    unknown = sorted(set(value) - known)
    if missing or unknown:
        raise ValueError(f'{where}: missing keys {missing}, unknown keys '
                         f'{unknown} (expected the fields of '
                         f'{cls.__name__}: {sorted(known)})')
