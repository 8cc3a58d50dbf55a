from .roi_align_1d import RoIAlign1d

__all__ = ['RoIAlign1d']
