"""Each compatibility shim of mmtad_ext.compat fixes its breakage and nothing more."""
import functools
import os
import pickle
import sys

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
