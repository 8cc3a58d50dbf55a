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
    """``load_tool(name)`` imports ``tools/<name>.py`` in-process (the source tree's modules).

    ``tools/`` is not a package: a tool imports its sibling helper modules (e.g.
    ``a3d_profiling``) by name, as ``python tools/<name>.py`` allows; ``tools/`` is appended to
    ``sys.path`` only while the module loads (appended: ``tools/test.py`` must not shadow the
    standard library's ``test``).
    """

    def load(name):
        if name in sys.modules:
            return sys.modules[name]
        tools = osp.join(REPO, 'tools')
        spec = importlib.util.spec_from_file_location(name, osp.join(tools, f'{name}.py'))
        module = importlib.util.module_from_spec(spec)
        sys.path.append(tools)
        try:
            spec.loader.exec_module(module)
        finally:
            sys.path.remove(tools)
        sys.modules[name] = module
        return module

    return load


@pytest.fixture
def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]
