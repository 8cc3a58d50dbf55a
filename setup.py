"""Install mmtad-ext (package ``mmtad_ext``).

Into an environment that already holds mmaction2 (torch, mmengine, mmcv with its ops, mmdet),
``pip install .`` (or ``mim install .``) adds only this package: ``install_requires`` are
compatible ranges (``requirements.txt``); extras ``tests``, ``blockdrop`` and ``all`` add the
test suite's and Progressive Block Drop's requirements (``requirements/*.txt``). On a fresh
machine ``make install`` builds the whole stack at the exact versions CI tests
(``requirements/constraints.txt``), mmcv with its ops first.

The configs under ``configs/`` are copied into ``mmtad_ext/.mim/configs`` at build time, together
with a minimal ``model-index.yml``, so that downstream projects can inherit them with
``_base_ = 'mmtad_ext::etad/<name>.py'`` (mmengine reads ``<package>/.mim/``, as for mmaction2).
Install regularly (``pip install .``), not editable: mmengine locates ``.mim`` through
``pkg_resources``, which points into site-packages for a PEP 660 editable install.
"""
import os.path as osp
import shutil

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def get_version():
    """Read ``__version__`` from ``mmtad_ext/version.py`` without importing the package."""
    scope = {}
    with open(osp.join(HERE, 'mmtad_ext', 'version.py')) as f:
        exec(compile(f.read(), 'version.py', 'exec'), scope)
    return scope['__version__']


def parse_requirements(fname='requirements.txt'):
    """Return the requirement lines of ``fname`` (comments and blank lines dropped).

    Exact pins (``==``) are refused: they belong in ``requirements/constraints.txt``.
    """
    with open(osp.join(HERE, fname)) as f:
        lines = [ln.split('#')[0].strip() for ln in f]
    reqs = [ln for ln in lines if ln]
    pinned = [r for r in reqs if '==' in r]
    if pinned:
        raise ValueError(f'{fname}: exact pins {pinned} belong in requirements/constraints.txt')
    return reqs


def add_mim_extension():
    """Copy ``configs/`` into ``mmtad_ext/.mim/configs`` and write a minimal model index."""
    mim_dir = osp.join(HERE, 'mmtad_ext', '.mim')
    src = osp.join(HERE, 'configs')
    if not osp.isdir(src):  # building from an sdist that already holds .mim
        return
    dst = osp.join(mim_dir, 'configs')
    if osp.isdir(dst):
        shutil.rmtree(dst)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
    with open(osp.join(mim_dir, 'model-index.yml'), 'w') as f:
        f.write('# Minimal index so that mmengine resolves mmtad_ext:: configs.\nImport: []\n')


def setup_kwargs() -> dict:
    """Keyword arguments of ``setuptools.setup`` (tests read them without building)."""
    extras = dict(tests=parse_requirements('requirements/tests.txt'),
                  blockdrop=parse_requirements('requirements/blockdrop.txt'))
    extras['all'] = extras['tests'] + extras['blockdrop']
    return dict(
        name='mmtad_ext',
        version=get_version(),
        description='Efficient temporal action detection and adaptive 3D networks for mmaction2: '
        'ETAD (DPS, EGS) and A3D',
        long_description=open(osp.join(HERE, 'README.md')).read()
        if osp.exists(osp.join(HERE, 'README.md')) else '',
        long_description_content_type='text/markdown',
        python_requires='>=3.10',  # torch 2.x wheels of the supported range
        packages=find_packages(where=HERE, exclude=('configs', 'tools', 'tests', 'tests.*')),
        include_package_data=True,
        package_data={'mmtad_ext': ['.mim/model-index.yml', '.mim/configs/**/*.py']},
        install_requires=parse_requirements(),
        extras_require=extras,
        license='Apache License 2.0',
        zip_safe=False,
    )


if __name__ == '__main__':
    add_mim_extension()
    setup(**setup_kwargs())
