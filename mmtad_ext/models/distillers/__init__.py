from .block_drop_distiller import BlockDropDistiller

__all__ = ['BlockDropDistiller']
