"""Fixtures for end-to-end tool tests: a tiny synthetic benchmark and a tiny ETAD config."""
import importlib.util
import os.path as osp
import socket
import sys

import pytest

from mmtad_ext.datasets.synthetic.feature_tad import generate_synthetic_tad

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SYNTHETIC_CONFIG = osp.join(REPO, 'configs', 'etad', 'etad_lstm_1xb8-16e_synthetic-tad-feature.py')

TINY_CONFIG = '''
_base_ = {base!r}
root = {root!r}
pipeline = [
    dict(type='LoadTADFeatures', in_channels=16),
    dict(type='ResizeTADFeatures', temporal_dim=32),
    dict(type='PackTADInputs')
]
data = dict(ann_file=root + '/annotations.json', class_map=root + '/class_map.txt',
            data_prefix=dict(feature=root + '/features'), temporal_dim=32, pipeline=pipeline)
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False, dataset=data)
val_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False, dataset=data)
val_dataloader['dataset']['subset'] = 'validation'
test_dataloader = val_dataloader
model = dict(
    neck=dict(in_channels=16, channels=16, norm_cfg=None),
    boundary_head=dict(in_channels=16, feat_channels=16),
    proposal_head=dict(in_channels=16, feat_channels=8, mid_channels=32, fc_channels=16,
                       roi_size=4),
    cls_head=dict(in_channels=16, num_classes=3),
    proposal_sampler=dict(temporal_dim=32),
    test_cfg=dict(max_proposals=50))
train_cfg = dict(max_epochs={epochs}, val_interval={epochs})
param_scheduler = [dict(type='MultiStepLR', begin=0, end={epochs}, by_epoch=True,
                        milestones=[{epochs}], gamma=0.1)]
default_hooks = dict(logger=dict(interval=1))
'''


@pytest.fixture(scope='session')
def tiny_data(tmp_path_factory):
    root = tmp_path_factory.mktemp('tiny_tad')
    generate_synthetic_tad(str(root), num_train=8, num_val=4, num_classes=3, feat_dim=16,
                           min_snippets=32, max_snippets=64, seed=1)
    return str(root)


@pytest.fixture
def tiny_config(tiny_data, tmp_path):
    """Write a tiny config inheriting ``base`` (default: the synthetic demo config)."""

    def make(base=SYNTHETIC_CONFIG, epochs=2, name='tiny.py'):
        path = tmp_path / name
        path.write_text(TINY_CONFIG.format(base=base, root=tiny_data, epochs=epochs))
        return str(path)

    return make


@pytest.fixture(scope='session')
def load_tool():
    """``load_tool(name)`` imports the script ``tools/<name>.py`` in-process from the source tree
    (``name`` may hold a folder: ``'analysis_tools/get_flops'``). Tools import only the package,
    so nothing is added to ``sys.path``; the module is registered as ``_tool_<name>`` (a tool
    named ``test`` must not shadow the standard library's ``test``)."""

    def load(name):
        key = '_tool_' + name.replace('/', '_')
        if key not in sys.modules:
            path = osp.join(REPO, 'tools', f'{name}.py')
            spec = importlib.util.spec_from_file_location(key, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[key] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[key]
                raise
        return sys.modules[key]

    return load


@pytest.fixture
def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]
