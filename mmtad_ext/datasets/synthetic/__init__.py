"""Shared synthetic video generator (see :mod:`mmtad_ext.datasets.synthetic.patterns`)."""
from .clips import make_clip_dataset
from .patterns import (NUM_PATTERNS, PATTERN_NAMES, render_background, render_clip,
                       write_video)

__all__ = [
    'NUM_PATTERNS', 'PATTERN_NAMES', 'render_background', 'render_clip', 'write_video',
    'make_clip_dataset'
]
