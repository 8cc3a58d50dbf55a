"""Packaging metadata: ranges for users, exact pins (constraints) for CI."""
import importlib.util
import os.path as osp

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _load_setup():
    """setup.py as a module (its ``__main__`` block, which builds, does not run)."""
    spec = importlib.util.spec_from_file_location('mmtad_ext_setup', osp.join(REPO, 'setup.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _requirement_names(reqs):
    from packaging.requirements import Requirement
    return {Requirement(r).name.lower() for r in reqs}


def test_install_requires_are_ranges_and_pins_live_in_constraints():
    kw = _load_setup().setup_kwargs()
    reqs = kw['install_requires']
    assert not [r for r in reqs if '==' in r]
    assert {'torch', 'mmengine', 'mmcv', 'mmaction2', 'mmdet', 'decord',
            'numpy'} <= _requirement_names(reqs)
    assert 'pytest' not in _requirement_names(reqs) and 'peft' not in _requirement_names(reqs)
    assert 'pytest' in _requirement_names(kw['extras_require']['tests'])
    assert 'peft' in _requirement_names(kw['extras_require']['blockdrop'])
    assert kw['python_requires'] == '>=3.10'
    from packaging.requirements import Requirement
    mmcv = next(Requirement(r) for r in reqs if r.startswith('mmcv'))
    assert '2.1.0' in mmcv.specifier and '2.2.0' not in mmcv.specifier
    with open(osp.join(REPO, 'requirements', 'constraints.txt')) as f:
        pins = [ln.split('#')[0].strip() for ln in f if ln.split('#')[0].strip()]
    assert all('==' in p for p in pins)
    pinned = {Requirement(p).name.lower(): Requirement(p) for p in pins}
    # every runtime requirement is pinned for CI, and each pin satisfies the user range
    for req in map(Requirement, reqs):
        assert req.name.lower() in pinned, f'{req.name} has no pin in constraints.txt'
        version = next(iter(pinned[req.name.lower()].specifier)).version
        assert req.specifier.contains(version, prereleases=True), (req, version)


def test_exact_pins_in_requirements_are_refused(tmp_path, monkeypatch):
    setup = _load_setup()
    (tmp_path / 'bad.txt').write_text('torch==2.13.0\nnumpy\n')
    monkeypatch.setattr(setup, 'HERE', str(tmp_path))
    with pytest.raises(ValueError, match='constraints'):
        setup.parse_requirements('bad.txt')


