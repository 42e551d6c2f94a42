"""Errors about the data a config names: each message names the annotation
file, the line and the video."""


class AnnotationError(ValueError):
    """An annotation list names a bad video or a label outside the model's
    classes; the message names the file, the lines and the videos."""


class BadVideoError(AnnotationError):
    """A listed video failed while a run decoded it: its decoding raised
    (``on_bad_video='error'``), a decoder crash ended the DataLoader worker
    decoding it, or more videos failed than ``max_bad_ratio`` allows."""
