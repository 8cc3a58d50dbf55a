"""Each compatibility shim of mmtad_ext.compat fixes its breakage and nothing more."""
import functools
import importlib.machinery
import json
import os
import os.path as osp
import pickle
import subprocess
import sys
import types

import numpy as np
import pytest
import torch
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner.checkpoint import _load_checkpoint

from mmtad_ext import compat


def test_missing_mmcv_ops_give_one_clear_error(monkeypatch):
    compat.check_mmcv_ops()  # the project's stack has them
    monkeypatch.setitem(sys.modules, 'mmcv._ext', None)  # import fails as after an isolated build
    with pytest.raises(ImportError, match=r'MMCV_WITH_OPS=1 pip install --no-build-isolation'):
        compat.check_mmcv_ops()


def test_missing_drn_is_provided():
    import mmaction.models.localizers as localizers
    assert compat.patch_missing_drn() is False  # already applied on import
    with pytest.raises(ImportError, match='DRN'):
        localizers.DRN()
    assert localizers.BMN is not None  # the rest of the package imports


def test_multimodal_models_are_placeholders_and_torchvision_not_imported():
    import mmaction.utils.dependency as dependency
    from mmaction.registry import MODELS
    assert dependency.WITH_MULTIMODAL is False
    assert 'torchvision' not in sys.modules and 'timm' not in sys.modules
    with pytest.raises(ImportError, match='multi-modal'):
        MODELS.build(dict(type='VindLUVQA'))
    assert compat.disable_mmaction_multimodal() is False


def test_multimodal_models_left_alone_when_timm_and_torchvision_exist(monkeypatch):
    import mmaction.utils.dependency as dependency
    monkeypatch.setattr(dependency, 'WITH_MULTIMODAL', True)
    monkeypatch.setattr(compat, 'multimodal_dependencies_installed', lambda: True)
    assert compat.disable_mmaction_multimodal() is False
    assert dependency.WITH_MULTIMODAL is True


class NotAllowed:
    pass


def _runner_like_checkpoint(path, extra=None):
    buffer = HistoryBuffer()
    buffer.update(1.5)
    ckpt = dict(meta=dict(epoch=1, seed=np.int64(3), hist=np.arange(3.0)),
                state_dict=dict(w=torch.ones(2)), message_hub=dict(log_scalars=dict(loss=buffer)))
    if extra is not None:
        ckpt['extra'] = extra
    torch.save(ckpt, path)


def test_checkpoint_globals_are_trusted_only_inside_mmengines_loader(tmp_path):
    path = str(tmp_path / 'ckpt.pth')
    _runner_like_checkpoint(path)
    ckpt = _load_checkpoint(path, map_location='cpu')
    assert ckpt['meta']['epoch'] == 1
    assert ckpt['message_hub']['log_scalars']['loss'].current() == 1.5
    with pytest.raises(pickle.UnpicklingError):  # no process-wide change
        torch.load(path, weights_only=True)
    assert 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD' not in os.environ


@pytest.mark.parametrize('extra', [NotAllowed(), functools.partial(int, '7'), os.getcwd],
                         ids=['own class', 'functools.partial', 'os.getcwd'])
def test_unlisted_globals_are_still_refused(tmp_path, extra):
    path = str(tmp_path / 'evil.pth')
    _runner_like_checkpoint(path, extra=extra)
    with pytest.raises(pickle.UnpicklingError):
        _load_checkpoint(path, map_location='cpu')


def test_allow_list_is_exactly_the_documented_one():
    from mmengine.config.config import ConfigDict
    names = {getattr(g, '__qualname__', repr(g)) for g in compat.mmengine_checkpoint_globals()}
    assert names == {'HistoryBuffer', 'ConfigDict', '_reconstruct', 'ndarray', 'dtype', 'scalar',
                     'Float64DType', 'Float32DType', 'Int64DType', 'Int32DType', 'BoolDType',
                     'getattr'}
    assert ConfigDict in compat.mmengine_checkpoint_globals()
    doc = compat.mmengine_checkpoint_globals.__doc__
    assert all(word in doc for word in ('HistoryBuffer', 'ConfigDict', 'getattr', 'numpy'))


def test_cpu_distributed_launcher():
    import mmengine.dist.utils as dist_utils
    from mmengine.model import MMDistributedDataParallel
    assert compat.allow_cpu_distributed() is False
    assert getattr(dist_utils._init_dist_pytorch, '_mmtad_ext_cpu', False)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match='gloo'):
            dist_utils._init_dist_pytorch('nccl')
    assert not hasattr(MMDistributedDataParallel.__init__, '__wrapped__')  # DDP is not patched


def test_cpu_distributed_is_configuration(monkeypatch):
    from mmengine.config import Config
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    cfg = Config(dict(find_unused_parameters=True))
    assert compat.configure_cpu_distributed(cfg) is True
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert cfg.model_wrapper_cfg == dict(type='MMDistributedDataParallel', broadcast_buffers=False,
                                         find_unused_parameters=True, device_ids=None)
    own = Config(dict(model_wrapper_cfg=dict(type='mmtad_ext.DelegatingDistributedDataParallel')))
    compat.configure_cpu_distributed(own)
    assert own.model_wrapper_cfg == dict(type='mmtad_ext.DelegatingDistributedDataParallel',
                                         device_ids=None)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    untouched = Config(dict())
    assert compat.configure_cpu_distributed(untouched) is False
    assert untouched.to_dict() == {}


def test_config_package_registered():
    from mmengine.config.utils import MODULE2PACKAGE
    assert MODULE2PACKAGE['mmtad_ext'] == 'mmtad_ext'
    assert compat.register_config_package() is False


# --- defer_transformers ---------------------------------------------------------------------

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))

# What `import mmtad_ext` leaves behind (registry names, modules) and, after the deferred
# start, Adafactor built through mmengine and mmdet's lazy names resolved.
_START_CHILD = """
import json, sys
if {eager}:
    import transformers
import mmtad_ext
from mmengine.registry import Registry
import mmengine.registry.root, mmdet.registry, mmaction.registry, mmtad_ext.registry
out = dict(transformers='transformers' in sys.modules, peft='peft' in sys.modules, registries={{
    f'{{mod.__name__}}.{{k}}': sorted(v.module_dict) for mod in (
        mmengine.registry.root, mmdet.registry, mmaction.registry, mmtad_ext.registry)
    for k, v in vars(mod).items() if isinstance(v, Registry)}})
out['modules'] = sorted(m for m in sys.modules if m.split('.')[0] not in ('transformers', 'peft'))
if not {eager}:
    import torch, transformers
    from mmengine.optim import build_optim_wrapper
    import mmdet.models.language_models.bert as bert
    wrapper = build_optim_wrapper(torch.nn.Linear(2, 2), dict(optimizer=dict(
        type='Adafactor', lr=1e-3, relative_step=False, scale_parameter=False)))
    out['adafactor'] = type(wrapper.optimizer) is transformers.Adafactor
    out['bert'] = bert.BertConfig.from_pretrained == transformers.BertConfig.from_pretrained
print(json.dumps(out))
"""


def _start(eager):
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''))
    proc = subprocess.run([sys.executable, '-c', _START_CHILD.format(eager=eager)], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_import_defers_transformers_and_keeps_registries_and_adafactor():
    deferred, eager = _start(eager=False), _start(eager=True)
    assert deferred['transformers'] is False and deferred['peft'] is False
    assert eager['transformers'] is True  # imported first: the shim stands aside
    assert deferred['registries'] == eager['registries']  # every name still registered
    assert len(deferred['registries']) > 100
    assert set(deferred['modules']) <= set(eager['modules'])
    assert deferred['adafactor'] is True  # built lazily through mmengine's OPTIMIZERS
    assert deferred['bert'] is True  # mmdet's BertConfig resolves to transformers'


def _fake_transformers(monkeypatch, **names):
    fake = types.ModuleType('transformers')
    fake.__spec__ = importlib.machinery.ModuleSpec('transformers', None)
    for name, value in names.items():
        setattr(fake, name, value)
    monkeypatch.setitem(sys.modules, 'transformers', fake)
    return fake


def test_lazy_name_resolves_on_first_use(monkeypatch):
    class Tokenizer:
        @classmethod
        def from_pretrained(cls, name):
            return f'tokenizer {name}'

    lazy = compat.LazyTransformersName('AutoTokenizer')
    assert lazy is not None and repr(lazy) == "LazyTransformersName('AutoTokenizer')"
    _fake_transformers(monkeypatch, AutoTokenizer=Tokenizer)
    assert lazy.resolve() is Tokenizer
    assert lazy.from_pretrained('bert') == 'tokenizer bert'
    assert isinstance(lazy(), Tokenizer)
    with pytest.raises(AttributeError):
        lazy.__wrapped__  # dunders are not forwarded (copy, pickle, inspect)


def test_mmdet_names_bound_lazily_where_unset(monkeypatch):
    import mmdet.models.language_models.bert as bert
    monkeypatch.setattr(bert, 'AutoTokenizer', None)
    monkeypatch.delattr(bert, 'BertConfig', raising=False)
    monkeypatch.setattr(bert, 'HFBertModel', 'kept')  # a bound name is left alone
    bound = compat.bind_lazy_transformers_names()
    assert {'mmdet.models.language_models.bert.AutoTokenizer',
            'mmdet.models.language_models.bert.BertConfig'} <= set(bound)
    assert 'mmdet.models.language_models.bert.HFBertModel' not in bound
    assert bert.AutoTokenizer.name == 'AutoTokenizer' and bert.BertConfig.name == 'BertConfig'
    assert compat.bind_lazy_transformers_names() == []


def test_lazy_adafactor_builds_the_real_one(monkeypatch):
    from mmengine.optim import build_optim_wrapper
    from mmengine.optim.optimizer import builder
    from mmengine.registry import OPTIMIZERS

    class RealAdafactor(torch.optim.SGD):
        pass

    monkeypatch.delitem(OPTIMIZERS._module_dict, 'Adafactor', raising=False)
    monkeypatch.setattr(builder, 'TRANSFORMERS_OPTIMIZERS', [])
    _fake_transformers(monkeypatch, Adafactor=RealAdafactor)
    assert compat.register_lazy_adafactor() is True
    stand_in = OPTIMIZERS.get('Adafactor')
    assert issubclass(stand_in, torch.optim.Optimizer) and stand_in is not RealAdafactor
    assert builder.TRANSFORMERS_OPTIMIZERS == ['Adafactor']
    assert compat.register_lazy_adafactor() is False
    wrapper = build_optim_wrapper(torch.nn.Linear(2, 2),
                                  dict(optimizer=dict(type='Adafactor', lr=0.1)))
    assert type(wrapper.optimizer) is RealAdafactor
    assert OPTIMIZERS.get('Adafactor') is RealAdafactor  # the stand-in replaced itself


def test_transformers_deferrable_only_where_nothing_else_changes(monkeypatch):
    import importlib.metadata
    monkeypatch.delitem(sys.modules, 'transformers', raising=False)
    monkeypatch.setattr(compat, 'multimodal_dependencies_installed', lambda: False)
    monkeypatch.setattr(importlib.metadata, 'version', lambda name: '4.56.0')
    assert compat.transformers_deferrable() is True
    monkeypatch.setattr(importlib.metadata, 'version', lambda name: '4.55.4')
    assert compat.transformers_deferrable() is False  # mmdet's VL layers would subclass it

    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, 'version', missing)
    assert compat.transformers_deferrable() is False
    monkeypatch.setattr(importlib.metadata, 'version', lambda name: '5.0.0')
    monkeypatch.setattr(compat, 'multimodal_dependencies_installed', lambda: True)
    assert compat.transformers_deferrable() is False  # mmaction2's multimodal models need it
    monkeypatch.setattr(compat, 'multimodal_dependencies_installed', lambda: False)
    _fake_transformers(monkeypatch)
    assert compat.transformers_deferrable() is False  # already imported


def test_defer_transformers_hides_then_binds(monkeypatch):
    calls = []
    monkeypatch.setattr(compat, 'register_lazy_adafactor', lambda: calls.append('adafactor'))
    monkeypatch.setattr(compat, 'bind_lazy_transformers_names', lambda: calls.append('names'))
    monkeypatch.delitem(sys.modules, 'transformers', raising=False)
    monkeypatch.setattr(compat, 'transformers_deferrable', lambda: True)
    with compat.defer_transformers() as deferred:
        with pytest.raises(ImportError):
            import transformers  # noqa: F401
    assert deferred is True and 'transformers' not in sys.modules
    assert calls == ['adafactor', 'names']
    monkeypatch.setattr(compat, 'transformers_deferrable', lambda: False)
    with compat.defer_transformers() as deferred:
        assert 'transformers' not in sys.modules  # not hidden
    assert deferred is False and calls == ['adafactor', 'names']
