from .feature_transforms import (LoadTADFeatures, PackTADInputs, ResizeTADFeatures,
                                 SlidingWindowTADFeatures)

__all__ = ['LoadTADFeatures', 'ResizeTADFeatures', 'SlidingWindowTADFeatures', 'PackTADInputs']
