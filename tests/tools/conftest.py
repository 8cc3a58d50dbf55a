"""Fixtures for end-to-end tool tests: a tiny synthetic benchmark and a tiny ETAD config."""
import importlib.util
import os.path as osp
import socket
import sys

import pytest

from _helpers.tiny_configs import ETAD_FEATURE_BASE, write_etad_feature_config
from mmtad_ext.datasets.synthetic.feature_tad import generate_synthetic_tad

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.fixture(scope='session')
def tiny_data(tmp_path_factory):
    """A tiny synthetic feature TAD benchmark (8 train / 4 val videos, 3 classes, 16 channels)."""
    root = tmp_path_factory.mktemp('tiny_tad')
    generate_synthetic_tad(str(root), num_train=8, num_val=4, num_classes=3, feat_dim=16,
                           min_snippets=32, max_snippets=64, seed=1)
    return str(root)


@pytest.fixture
def tiny_config(tiny_data, tmp_path):
    """``tiny_config(base, epochs, name)`` writes the tiny feature ETAD config
    (``_helpers.tiny_configs.ETAD_FEATURE``) inheriting ``base`` (default: the synthetic
    demo config) on ``tiny_data`` and returns its path."""

    def make(base=ETAD_FEATURE_BASE, epochs=2, name='tiny.py'):
        return write_etad_feature_config(tmp_path / name, tiny_data, base, epochs)

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
