from .feature_transforms import (LoadTADFeatures, PackTADInputs, ResizeTADFeatures,
                                 SlidingWindowTADFeatures)
from .random_trunc_tad import RandomTruncTAD
from .video_transforms import DecodeTADSnippets, VideoDecodeError, probe_video

__all__ = ['LoadTADFeatures', 'ResizeTADFeatures', 'SlidingWindowTADFeatures', 'PackTADInputs',
           'DecodeTADSnippets', 'VideoDecodeError', 'probe_video', 'RandomTruncTAD']
