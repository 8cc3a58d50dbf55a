"""Compatibility shims for the pinned OpenMMLab stack on current PyTorch.

``import mmtad_ext`` calls :func:`apply_all` before any mmaction2 model module is imported.
Each shim is one small function that fixes one documented breakage, is idempotent and is tested
in ``tests/test_compat.py``. Nothing in site-packages is edited.

1. :func:`patch_missing_drn`: the mmaction2 1.2.0 wheel lacks
   ``mmaction/models/localizers/drn``, so ``import mmaction.models`` fails.
2. :func:`disable_mmaction_multimodal`: with ``transformers`` installed (peft pulls it in),
   mmaction2 imports its multimodal models, which need timm and torchvision. Only when one of
   those two is missing (the CPU stack has no torchvision build) does the shim switch the
   multimodal models to mmaction2's own placeholders; with both installed mmaction2 is untouched.
3. :func:`allow_mmengine_checkpoint_globals`: mmengine 0.10.7 calls ``torch.load`` without
   ``weights_only``; torch >= 2.6 defaults to ``weights_only=True`` and refuses the numpy and
   mmengine objects mmengine stores in runner checkpoints. The shim allow-lists exactly the
   globals of :func:`mmengine_checkpoint_globals` (each with the reason it is there), only while
   mmengine's checkpoint loader runs (no process-wide environment variable, no
   ``weights_only=False``); a checkpoint carrying any other global is refused (tested). A runner
   checkpoint is still a pickle: load only checkpoints you trust, as with any pickle.
4. :func:`allow_cpu_distributed`: mmengine 0.10.7's PyTorch launcher calls
   ``torch.cuda.set_device`` unconditionally, so ``torchrun ... --launcher pytorch`` cannot even
   initialise gloo on a CPU-only torch, and no config key reaches that code. Without CUDA the
   shim initialises the process group without selecting a device; with CUDA mmengine's own code
   runs unchanged. The other half, DDP without ``device_ids`` on CPU, needs no patch: it is a
   config setting (:func:`configure_cpu_distributed`, applied by ``tools/train.py`` and
   ``tools/test.py``).
5. :func:`register_config_package`: lets mmengine resolve ``_base_ = 'mmtad_ext::...'``
   (its ``MODULE2PACKAGE`` table lists only OpenMMLab repositories). This must run before a
   config is parsed, i.e. ``import mmtad_ext`` before ``Config.fromfile`` (our tools do).
6. :func:`defer_transformers`: start-up time. mmengine's optimizer builder imports
   ``transformers`` (whose optimizers module imports peft) only to register ``Adafactor``, and
   mmdet imports it for its vision-language models; none of them is used at import, yet the
   import costs a third of ``import mmtad_ext``. ``import mmtad_ext`` runs the OpenMMLab imports
   with ``transformers`` hidden (the optional imports of mmengine and mmdet catch the
   ImportError), then binds what they would have imported to lazy stand-ins:
   :func:`register_lazy_adafactor` (``type='Adafactor'`` still builds through mmengine's
   ``OPTIMIZERS``) and :func:`bind_lazy_transformers_names` (mmdet's module globals). Registries
   hold the same names as without the shim (tested). It stays out of the way when
   ``transformers`` is already imported (import it first to opt out), not installed, needed by
   mmaction2's multimodal models, or older than 4.56, with which mmdet 3.3's vision-language
   layers subclass its BERT classes at import (from 4.56 on, their
   ``transformers.modeling_utils.apply_chunking_to_forward`` import fails either way).
"""
import contextlib
import functools
import importlib.util
import sys
import types

import torch

_DRN_MODULE = 'mmaction.models.localizers.drn'


MMCV_OPS_HELP = (
    'mmtad_ext needs mmcv built with its compiled ops (mmcv._ext: RoIAlign and friends), but '
    '`import mmcv._ext` failed{reason}. mmcv 2.x has no wheels for current torch; build it '
    'against the installed torch with\n'
    '    MMCV_WITH_OPS=1 pip install --no-build-isolation "mmcv>=2.0.0,<2.2.0"\n'
    'or `mim install "mmcv>=2.0.0,<2.2.0"` (with CUDA, set FORCE_CUDA=1 as well); `make install` '
    'in the mmtad-ext repository does this for you.')


def check_mmcv_ops() -> None:
    """Raise one clear ImportError, with the build command, when mmcv lacks its compiled ops.

    pip's isolated build of mmcv (``pip install mmcv`` without ``--no-build-isolation``) skips
    the ops, and ``mmcv.ops`` then fails deep inside our imports with ``No module named
    'mmcv._ext'``.
    """
    try:
        import mmcv._ext  # noqa: F401
    except ImportError as e:
        raise ImportError(MMCV_OPS_HELP.format(reason=f' ({e})')) from e


def patch_missing_drn() -> bool:
    """Provide the ``mmaction.models.localizers.drn(.drn)`` modules missing from the wheel.

    The stand-in ``DRN`` raises a clear ImportError if built; it is not registered.

    Returns:
        bool: True if the stand-in was installed, False if a real module exists.
    """
    if _DRN_MODULE in sys.modules:
        return False
    try:
        if importlib.util.find_spec(_DRN_MODULE) is not None:
            return False
    except ModuleNotFoundError:
        pass

    class DRN:  # noqa: D401 - stand-in
        """Stand-in for mmaction2's DRN, which the mmaction2 1.2.0 wheel does not ship."""

        def __init__(self, *args, **kwargs):
            raise ImportError('mmaction2 1.2.0 wheels do not ship DRN '
                              '(mmaction/models/localizers/drn); install mmaction2 from source '
                              'to use it')

    pkg = types.ModuleType(_DRN_MODULE)
    pkg.__path__ = []
    mod = types.ModuleType(_DRN_MODULE + '.drn')
    mod.DRN = DRN
    pkg.drn = mod
    sys.modules[_DRN_MODULE] = pkg
    sys.modules[_DRN_MODULE + '.drn'] = mod
    return True


def disable_mmaction_multimodal() -> bool:
    """Make mmaction2 register placeholders for its multimodal models instead of importing them.

    Must run before ``mmaction.models.multimodal`` is imported.

    Returns:
        bool: True if the flag was switched off by this call.
    """
    import mmaction.utils.dependency as dependency
    if multimodal_dependencies_installed():
        return False  # mmaction2 can import its multimodal models: leave them alone
    if 'mmaction.models.multimodal' in sys.modules or not dependency.WITH_MULTIMODAL:
        return False
    dependency.WITH_MULTIMODAL = False
    return True


def multimodal_dependencies_installed() -> bool:
    """True when both timm and torchvision are importable (mmaction2's multimodal models)."""
    return all(importlib.util.find_spec(name) is not None for name in ('timm', 'torchvision'))


def mmengine_checkpoint_globals() -> list:
    """Globals that mmengine (0.10.7) runner checkpoints contain besides tensors and dicts.

    - ``HistoryBuffer``: the message hub's logged scalars (``message_hub.log_scalars``);
    - ``ConfigDict``: configs stored in ``meta`` (e.g. the dataset meta, hook arguments);
    - numpy's ``_reconstruct``, ``ndarray``, ``dtype``, ``scalar`` and the concrete dtype
      classes: numpy arrays and scalars (seeds, epoch counters, logged values);
    - builtin ``getattr``: a ``HistoryBuffer`` pickles its statistics methods as
      ``getattr(HistoryBuffer, 'min')`` and so on (``_statistics_methods``).

    Nothing else: ``tests/test_compat.py`` checks this exact list and that a checkpoint carrying
    any other global is refused.
    """
    import numpy as np
    from mmengine.config.config import ConfigDict
    from mmengine.logging.history_buffer import HistoryBuffer
    np_core = np.core.multiarray
    return [
        HistoryBuffer, ConfigDict, np_core._reconstruct, np.ndarray, np.dtype,
        np.core.multiarray.scalar, type(np.dtype(np.float64)), type(np.dtype(np.float32)),
        type(np.dtype(np.int64)), type(np.dtype(np.int32)), type(np.dtype(np.bool_)),
        getattr
    ]


def allow_mmengine_checkpoint_globals() -> bool:
    """Wrap mmengine's checkpoint schemes so ``torch.load`` allows mmengine's globals.

    Returns:
        bool: True if the loaders were wrapped by this call, False if already done.
    """
    from mmengine.runner.checkpoint import CheckpointLoader
    if getattr(CheckpointLoader, '_mmtad_ext_safe_globals', False):
        return False
    if not hasattr(torch.serialization, 'safe_globals'):
        return False  # torch < 2.5: torch.load is not weights-only by default, nothing to do
    safe = mmengine_checkpoint_globals()

    def wrap(loader):

        @functools.wraps(loader)
        def load(*args, **kwargs):
            with torch.serialization.safe_globals(safe):
                return loader(*args, **kwargs)

        return load

    CheckpointLoader._schemes = type(CheckpointLoader._schemes)(
        (prefix, wrap(fn)) for prefix, fn in CheckpointLoader._schemes.items())
    CheckpointLoader._mmtad_ext_safe_globals = True
    return True


def allow_cpu_distributed() -> bool:
    """Let mmengine's PyTorch launcher initialise gloo on machines without CUDA.

    Returns:
        bool: True if mmengine's launcher was wrapped by this call.
    """
    import mmengine.dist.utils as dist_utils
    original = dist_utils._init_dist_pytorch
    if getattr(original, '_mmtad_ext_cpu', False):
        return False

    @functools.wraps(original)
    def init_dist_pytorch(backend='nccl', init_backend='torch', **kwargs):
        if torch.cuda.is_available() or init_backend != 'torch':
            return original(backend, init_backend=init_backend, **kwargs)
        if backend == 'nccl':
            raise RuntimeError('NCCL needs CUDA devices; use dist_cfg=dict(backend=\'gloo\') on a '
                               'CPU machine (tools/train.py does this automatically)')
        torch.distributed.init_process_group(backend=backend, **kwargs)

    init_dist_pytorch._mmtad_ext_cpu = True
    dist_utils._init_dist_pytorch = init_dist_pytorch
    return True


def configure_cpu_distributed(cfg) -> bool:
    """Set a Config up for a distributed run on machines without CUDA (a no-op with CUDA).

    NCCL needs GPUs, so the process group uses gloo (``env_cfg.dist_cfg.backend``); and the
    Runner builds its DDP wrapper with ``device_ids=[LOCAL_RANK]`` unless ``model_wrapper_cfg``
    sets them (mmengine passes them as a default argument), which a CPU module refuses, so
    ``model_wrapper_cfg.device_ids`` becomes None (keeping the config's wrapper type and
    arguments; mmengine's defaults otherwise: ``MMDistributedDataParallel``,
    ``broadcast_buffers=False``, ``find_unused_parameters`` from the config).

    Args:
        cfg (mmengine.Config): The run's config, changed in place.

    Returns:
        bool: True if the config was changed (no CUDA), False otherwise.
    """
    if torch.cuda.is_available():
        return False
    env_cfg = dict(cfg.get('env_cfg') or {})
    env_cfg['dist_cfg'] = dict(env_cfg.get('dist_cfg') or {}, backend='gloo')
    cfg.env_cfg = env_cfg
    wrapper = cfg.get('model_wrapper_cfg')
    if wrapper is None:
        wrapper = dict(type='MMDistributedDataParallel', broadcast_buffers=False,
                       find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    return True


def register_config_package(distribution: str = 'mmtad_ext') -> bool:
    """Let mmengine resolve ``mmtad_ext::`` config paths.

    Returns:
        bool: True if the entry was added by this call.
    """
    from mmengine.config.utils import MODULE2PACKAGE
    if MODULE2PACKAGE.get('mmtad_ext') == distribution:
        return False
    MODULE2PACKAGE['mmtad_ext'] = distribution
    return True


# Oldest transformers without ``modeling_utils.apply_chunking_to_forward``: mmdet 3.3's
# vision-language layers (mmdet/models/utils/vlfuse_helper.py) fall back to plain bases anyway.
TRANSFORMERS_DEFERRABLE_FROM = '4.56.0'

# Module globals that mmdet binds from ``transformers`` at import (None or unset without it).
MMDET_TRANSFORMERS_NAMES = {
    'mmdet.models.language_models.bert': dict(
        AutoTokenizer='AutoTokenizer', BertConfig='BertConfig', HFBertModel='BertModel'),
    'mmdet.models.dense_heads.atss_vlfusion_head': dict(BertConfig='BertConfig'),
    'mmdet.datasets.transforms.text_transformers': dict(
        AutoTokenizer='AutoTokenizer', HFBertModel='BertModel'),
}


class LazyTransformersName:
    """``transformers.<name>``, imported on first attribute access or call.

    Stands in a module global where an optional ``from transformers import <name>`` ran with
    ``transformers`` hidden (mmdet only reads attributes of these, e.g. ``from_pretrained``).
    """

    def __init__(self, name: str):
        self.name = name

    def resolve(self):
        import transformers
        return getattr(transformers, self.name)

    def __getattr__(self, attr):
        if attr.startswith('__'):
            raise AttributeError(attr)
        return getattr(self.resolve(), attr)

    def __call__(self, *args, **kwargs):
        return self.resolve()(*args, **kwargs)

    def __repr__(self):
        return f'LazyTransformersName({self.name!r})'


def transformers_deferrable() -> bool:
    """True when hiding ``transformers`` during the OpenMMLab imports changes only start-up time.

    False when it is already imported (nothing to save), not installed (nothing to hide), older
    than :data:`TRANSFORMERS_DEFERRABLE_FROM`, or needed by mmaction2's multimodal models (timm
    and torchvision installed: :func:`disable_mmaction_multimodal` leaves them alone).
    """
    from importlib.metadata import PackageNotFoundError, version

    from mmengine.utils import digit_version
    if 'transformers' in sys.modules or multimodal_dependencies_installed():
        return False
    try:
        installed = version('transformers')
    except PackageNotFoundError:
        return False
    return digit_version(installed) >= digit_version(TRANSFORMERS_DEFERRABLE_FROM)


@contextlib.contextmanager
def defer_transformers():
    """Run the imports of the ``with`` body with ``transformers`` hidden, then bind stand-ins.

    Yields:
        bool: True if ``transformers`` was hidden (see :func:`transformers_deferrable`).
    """
    if not transformers_deferrable():
        yield False
        return
    sys.modules['transformers'] = None  # `import transformers` raises ImportError
    try:
        yield True
    finally:
        if sys.modules.get('transformers', 0) is None:
            del sys.modules['transformers']
    register_lazy_adafactor()
    bind_lazy_transformers_names()


def register_lazy_adafactor() -> bool:
    """Register transformers' ``Adafactor`` in mmengine's ``OPTIMIZERS`` without importing it.

    The stand-in is a ``torch.optim.Optimizer`` subclass with transformers' first argument
    (``params``, which mmengine's optimizer constructor fills in); building it imports
    ``transformers``, replaces itself in the registry by the real class and returns a real
    ``transformers.Adafactor``.

    Returns:
        bool: True if the stand-in was registered by this call.
    """
    from mmengine.optim.optimizer import builder
    from mmengine.registry import OPTIMIZERS
    if 'Adafactor' in OPTIMIZERS.module_dict or importlib.util.find_spec('transformers') is None:
        return False

    class Adafactor(torch.optim.Optimizer):
        """transformers' ``Adafactor``, imported when first built (mmtad_ext.compat)."""

        def __new__(cls, params, *args, **kwargs):
            from transformers import Adafactor as TransformersAdafactor
            OPTIMIZERS.register_module(name='Adafactor', module=TransformersAdafactor, force=True)
            return TransformersAdafactor(params, *args, **kwargs)

    OPTIMIZERS.register_module(name='Adafactor', module=Adafactor)
    if 'Adafactor' not in builder.TRANSFORMERS_OPTIMIZERS:
        builder.TRANSFORMERS_OPTIMIZERS.append('Adafactor')
    return True


def bind_lazy_transformers_names() -> list:
    """Bind :data:`MMDET_TRANSFORMERS_NAMES` left None or unset to :class:`LazyTransformersName`.

    Returns:
        list: ``'module.global'`` for each name bound by this call.
    """
    bound = []
    for module_name, names in MMDET_TRANSFORMERS_NAMES.items():
        module = sys.modules.get(module_name)
        if module is None:
            continue
        for global_name, name in names.items():
            if getattr(module, global_name, None) is None:
                setattr(module, global_name, LazyTransformersName(name))
                bound.append(f'{module_name}.{global_name}')
    return bound


def apply_all() -> None:
    """Check mmcv's ops, then apply every shim (idempotent)."""
    check_mmcv_ops()
    patch_missing_drn()
    disable_mmaction_multimodal()
    allow_mmengine_checkpoint_globals()
    allow_cpu_distributed()
    register_config_package()


__all__ = [
    'check_mmcv_ops', 'patch_missing_drn', 'disable_mmaction_multimodal', 'mmengine_checkpoint_globals',
    'allow_mmengine_checkpoint_globals', 'allow_cpu_distributed', 'configure_cpu_distributed',
    'multimodal_dependencies_installed', 'register_config_package', 'apply_all',
    'TRANSFORMERS_DEFERRABLE_FROM', 'MMDET_TRANSFORMERS_NAMES', 'LazyTransformersName',
    'transformers_deferrable', 'defer_transformers', 'register_lazy_adafactor',
    'bind_lazy_transformers_names'
]
