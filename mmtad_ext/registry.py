"""Registries of mmtad-ext (scope ``'mmtad_ext'``).

Each registry is a child of mmaction2's registry of the same kind, exactly as
``mmaction/registry.py`` parents mmengine's (except ``MODEL_WRAPPERS``, a child of mmengine's:
see the comment there). A config with ``default_scope='mmtad_ext'`` therefore
reaches every mmaction2 (and, through mmaction2, mmengine) module by its plain name, and an
mmaction2-scoped config reaches ours as ``'mmtad_ext.X'``. mmengine imports this module when it
meets ``_scope_='mmtad_ext'`` (configs inherited with ``_base_ = 'mmtad_ext::...'``).

Every registry names the ``locations`` that register its modules, as mmaction2's do (registries
without modules of ours name ``mmtad_ext.engine``): mmengine imports them on first use, and would
otherwise fall back to ``mmtad_ext.utils.register_all_modules`` and, before that existed, log
"mmtad_ext is not installed and its modules will not be registered".
"""
from mmaction.registry import DATA_SAMPLERS as MMACTION_DATA_SAMPLERS
from mmaction.registry import DATASETS as MMACTION_DATASETS
from mmaction.registry import EVALUATOR as MMACTION_EVALUATOR
from mmaction.registry import FUNCTION as MMACTION_FUNCTION
from mmaction.registry import HOOKS as MMACTION_HOOKS
from mmaction.registry import LOG_PROCESSORS as MMACTION_LOG_PROCESSORS
from mmaction.registry import LOOPS as MMACTION_LOOPS
from mmaction.registry import METRICS as MMACTION_METRICS
from mmaction.registry import MODELS as MMACTION_MODELS
from mmaction.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMACTION_OPTIM_WRAPPER_CONSTRUCTORS
from mmaction.registry import OPTIM_WRAPPERS as MMACTION_OPTIM_WRAPPERS
from mmaction.registry import OPTIMIZERS as MMACTION_OPTIMIZERS
from mmaction.registry import PARAM_SCHEDULERS as MMACTION_PARAM_SCHEDULERS
from mmaction.registry import RUNNER_CONSTRUCTORS as MMACTION_RUNNER_CONSTRUCTORS
from mmaction.registry import RUNNERS as MMACTION_RUNNERS
from mmaction.registry import TASK_UTILS as MMACTION_TASK_UTILS
from mmaction.registry import TRANSFORMS as MMACTION_TRANSFORMS
from mmaction.registry import VISBACKENDS as MMACTION_VISBACKENDS
from mmaction.registry import VISUALIZERS as MMACTION_VISUALIZERS
from mmaction.registry import WEIGHT_INITIALIZERS as MMACTION_WEIGHT_INITIALIZERS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import Registry

RUNNERS = Registry(
    'runner', parent=MMACTION_RUNNERS, scope='mmtad_ext', locations=['mmtad_ext.engine'])
RUNNER_CONSTRUCTORS = Registry(
    'runner constructor', parent=MMACTION_RUNNER_CONSTRUCTORS, scope='mmtad_ext',
    locations=['mmtad_ext.engine'])
LOOPS = Registry(
    'loop', parent=MMACTION_LOOPS, scope='mmtad_ext', locations=['mmtad_ext.engine'])
HOOKS = Registry(
    'hook', parent=MMACTION_HOOKS, scope='mmtad_ext', locations=['mmtad_ext.engine'])
LOG_PROCESSORS = Registry(
    'log_processor', parent=MMACTION_LOG_PROCESSORS, scope='mmtad_ext',
    locations=['mmtad_ext.engine'])

DATASETS = Registry(
    'dataset', parent=MMACTION_DATASETS, scope='mmtad_ext', locations=['mmtad_ext.datasets'])
DATA_SAMPLERS = Registry(
    'data sampler', parent=MMACTION_DATA_SAMPLERS, scope='mmtad_ext',
    locations=['mmtad_ext.datasets'])
TRANSFORMS = Registry(
    'transform', parent=MMACTION_TRANSFORMS, scope='mmtad_ext',
    locations=['mmtad_ext.datasets'])

MODELS = Registry(
    'model', parent=MMACTION_MODELS, scope='mmtad_ext', locations=['mmtad_ext.models'])
# Model wrappers hang directly under mmengine's root registry, not under mmaction2's: mmengine's
# Runner.wrap_model looks ``model_wrapper_cfg.type`` up with ``MODEL_WRAPPERS.get`` on its root
# registry, which resolves ``'scope.Name'`` only among the root's direct children (mmaction2's
# own wrappers are reached the same way, as ``'mmaction.Name'``).
MODEL_WRAPPERS = Registry(
    'model_wrapper', parent=MMENGINE_MODEL_WRAPPERS, scope='mmtad_ext',
    locations=['mmtad_ext.engine'])
WEIGHT_INITIALIZERS = Registry(
    'weight initializer', parent=MMACTION_WEIGHT_INITIALIZERS, scope='mmtad_ext',
    locations=['mmtad_ext.models'])
TASK_UTILS = Registry(
    'task util', parent=MMACTION_TASK_UTILS, scope='mmtad_ext', locations=['mmtad_ext.models'])

OPTIMIZERS = Registry(
    'optimizer', parent=MMACTION_OPTIMIZERS, scope='mmtad_ext', locations=['mmtad_ext.engine'])
OPTIM_WRAPPERS = Registry(
    'optim_wrapper', parent=MMACTION_OPTIM_WRAPPERS, scope='mmtad_ext',
    locations=['mmtad_ext.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor', parent=MMACTION_OPTIM_WRAPPER_CONSTRUCTORS,
    scope='mmtad_ext', locations=['mmtad_ext.engine'])
PARAM_SCHEDULERS = Registry(
    'parameter scheduler', parent=MMACTION_PARAM_SCHEDULERS, scope='mmtad_ext',
    locations=['mmtad_ext.engine'])

METRICS = Registry(
    'metric', parent=MMACTION_METRICS, scope='mmtad_ext', locations=['mmtad_ext.evaluation'])
EVALUATOR = Registry(
    'evaluator', parent=MMACTION_EVALUATOR, scope='mmtad_ext',
    locations=['mmtad_ext.evaluation'])

VISUALIZERS = Registry(
    'visualizer', parent=MMACTION_VISUALIZERS, scope='mmtad_ext',
    locations=['mmtad_ext.engine'])
VISBACKENDS = Registry(
    'vis_backend', parent=MMACTION_VISBACKENDS, scope='mmtad_ext',
    locations=['mmtad_ext.engine'])
FUNCTION = Registry(
    'function', parent=MMACTION_FUNCTION, scope='mmtad_ext', locations=['mmtad_ext.engine'])
