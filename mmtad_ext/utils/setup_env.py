"""``register_all_modules``, the entry point mmengine and OpenMMLab tools look for."""
from mmengine import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Register every module of mmtad_ext (and mmaction2) in the registries.

    mmengine calls ``mmtad_ext.utils.register_all_modules(False)`` for a registry of scope
    ``'mmtad_ext'`` without import ``locations`` (ours all have them); scripts may call it
    instead of ``import mmtad_ext``, as with mmaction2's function of the same name.

    Args:
        init_default_scope (bool): Also make ``'mmtad_ext'`` the default scope if no scope of
            that name exists yet. Defaults to True.
    """
    import mmtad_ext  # noqa: F401  (imports and registers every subpackage)
    if init_default_scope and not DefaultScope.check_instance_created('mmtad_ext'):
        DefaultScope.get_instance('mmtad_ext', scope_name='mmtad_ext')
