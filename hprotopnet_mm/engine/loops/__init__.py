"""Loops: the last-layer phase of prototype training."""
from .last_layer_loop import LastLayerLoop

__all__ = ['LastLayerLoop']
