"""mmtad-ext: efficient temporal action detection and adaptive 3D networks for mmaction2.

``custom_imports=dict(imports=['mmtad_ext'])`` registers every module. The compatibility shims of
:mod:`mmtad_ext.compat` are applied first, before mmaction2's models are imported, and the
OpenMMLab imports run without ``transformers`` (:func:`mmtad_ext.compat.defer_transformers`).
"""
from . import compat

with compat.defer_transformers():
    compat.apply_all()

    # Register mmaction2's modules, so that our child registries reach them by plain name.
    import mmaction.datasets  # noqa: E402,F401
    import mmaction.engine  # noqa: E402,F401
    import mmaction.evaluation  # noqa: E402,F401
    import mmaction.models  # noqa: E402,F401
    import mmaction.visualization  # noqa: E402,F401

from . import datasets, engine, evaluation, models, structures, utils  # noqa: E402,F401
from .version import __version__  # noqa: E402

__all__ = [
    '__version__', 'compat', 'datasets', 'engine', 'evaluation', 'models', 'structures', 'utils'
]
