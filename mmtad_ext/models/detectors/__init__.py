from .actionformer import ActionFormer
from .etad import ETAD

__all__ = ['ActionFormer', 'ETAD']
