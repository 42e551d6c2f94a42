"""Which training clip each prototype came from (paper Sec. 4.6).

After projection every prototype equals the feature of one patch of one
training clip; ``head.prototype_sources`` records the clip (file, view,
frame indices) and the patch (cell of the feature grid). :class:`SourceClips`
describes that record, decodes the clip again with the projection's
deterministic pipeline, checks that it is still the clip projected (same
frames, same grid) and renders it with the patch boxed.
"""
from typing import Dict, Optional, Sequence, Tuple

from torch import nn

from .activation_maps import cell_footprint, clip_activation_maps
from .clip_video import PATCH_BOX, clip_video, frame_labels, heat_overlay
from .loading import (VideoReadError, frame_indices, head_outputs, load_clips,
                      preprocess, to_frames)


class SourceClips:
    """Provenance and source clips of the prototypes of a head.

    Args:
        model (nn.Module): The recognizer, in eval mode.
        head (nn.Module): Its prototype head.
        pipeline (Sequence[dict], optional): The projection's pipeline;
            without it sources are described but not shown.
        info (dict, optional): ``start_index`` and ``modality`` of the
            projection dataset.
        clip_scale (int, optional): Integer enlargement of the clips shown;
            None: about 224 px on the longer side.
    """

    def __init__(self,
                 model: nn.Module,
                 head: nn.Module,
                 pipeline: Optional[Sequence[dict]] = None,
                 info: Optional[Dict] = None,
                 clip_scale: Optional[int] = None) -> None:
        self.model = model
        self.head = head
        self.pipeline = None if pipeline is None else list(pipeline)
        self.info = dict(info or {})
        self.clip_scale = clip_scale
        self._cache: Dict[Tuple[str, int], Dict] = {}

    def describe(self, p: int, render: bool, images: Dict[str, bytes]) -> Dict:
        """Provenance of prototype ``p`` and, if it can be decoded, its clip.

        Returns:
            dict: ``source`` (the record, or None when not projected, with
            ``frames_match`` and ``distance_now`` once decoded),
            ``source_status`` ('ok' or why the clip is missing or differs)
            and ``source_clip`` (the name of its clip in ``images``).
        """
        sources = self.head.prototype_sources
        records = [] if sources is None else sources.prototypes
        record = records[p].to_plain() if p < len(records) and \
            records[p] is not None else None
        if record is None:
            status = 'not projected: the model holds no provenance for ' \
                'this prototype' if sources is None else \
                'not projected: no training clip of its node was found at ' \
                'projection time'
            return dict(source=None, source_status=status, source_clip=None)
        info = dict(record)
        result = dict(source=info, source_status='ok', source_clip=None)
        if self.pipeline is None:
            result['source_status'] = 'the config has no projection ' \
                'pipeline, so the source clip is not shown'
            return result
        if not render:
            result['source_status'] = 'source clip not decoded (numbers only)'
            return result
        try:
            decoded = self._decode(record)
        except VideoReadError as err:
            result['source_status'] = f'source clip unavailable: {err}'
            return result
        expected = record.get('frame_inds')
        info['frames_match'] = expected is None or \
            decoded['frame_inds'] == expected
        if not info['frames_match']:
            result['source_status'] = (
                'the projection pipeline now samples frames '
                f'{decoded["frame_inds"]} of the source video, not the '
                f'recorded {expected}; the clip shown differs from the one '
                'projected')
        distance_maps = decoded['distance_maps'][p]
        cell = tuple(record['cell'])
        if list(distance_maps.shape) == list(record['grid']):
            info['distance_now'] = float(distance_maps[cell])
        else:
            result['source_status'] = (
                f'the feature grid of the source clip is now '
                f'{list(distance_maps.shape)}, not the recorded '
                f'{record["grid"]}')
        name = f'clips/p{p:04d}_source.webm'
        if name not in images:
            images[name] = self._render(decoded, p, record)
        result['source_clip'] = name
        return result

    def _decode(self, record: Dict) -> Dict:
        """Decode the training clip of a record (cached) and run the model
        on the recorded view."""
        key = (record['filename'], int(record.get('view', 0)))
        if key not in self._cache:
            sample = load_clips(
                self.pipeline,
                record['filename'],
                label=int(record.get('label', -1)),
                **self.info)
            raw, inputs = preprocess(self.model, sample)
            view = key[1]
            if view >= raw.shape[0]:
                raise VideoReadError(
                    f'{record["filename"]}: the projection pipeline gives '
                    f'{raw.shape[0]} views, the record names view {view}')
            out = head_outputs(self.model, self.head, inputs[view:view + 1])
            self._cache[key] = dict(
                frames=to_frames(raw[view]),
                clip_size=tuple(raw.shape[2:]),
                frame_inds=frame_indices(sample, view),
                feature_size=tuple(out['z'].shape[2:]),
                distance_maps=out['distance_maps'][0].cpu())
        return self._cache[key]

    def _render(self, decoded: Dict, p: int, record: Dict) -> bytes:
        """The source clip with prototype p's activation and its patch."""
        shape = self.head.prototype_layer.prototype_shape
        activation = clip_activation_maps(decoded['distance_maps'][p:p + 1],
                                          self.head.prototype_layer.epsilon,
                                          shape, decoded['clip_size'])[0]
        (t0, t1), (y0, y1), (x0, x1) = cell_footprint(record['cell'], shape,
                                                      decoded['feature_size'],
                                                      decoded['clip_size'])
        frames = decoded['frames']
        num = len(frames)
        inside = [t0 <= t < t1 for t in range(num)]
        boxes = [[((x0, y0, x1, y1), PATCH_BOX)] if inside[t] else []
                 for t in range(num)]
        return clip_video(
            heat_overlay(frames, activation.numpy()),
            boxes,
            labels=frame_labels(decoded['frame_inds'], num),
            dimmed=[not x for x in inside],
            start=min(t0, num - 1),
            scale=self.clip_scale)
