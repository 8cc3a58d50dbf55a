"""Shared test set-up: every test imports the package (registers modules, applies compat).

Tiny configs and helpers shared by test modules live in ``tests/_helpers`` (not test modules).
"""
import os
import queue as queue_module
import socket

import pytest
import torch
import torch.multiprocessing as mp

import mmtad_ext  # noqa: F401


if os.environ.get('PYTEST_XDIST_WORKER'):
    # `make test` runs two pytest-xdist workers on the two cores: one thread each (tool
    # subprocesses already run with OMP_NUM_THREADS=1)
    torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items):
    """Tests marked ``paper`` (a full-size paper config on rehearsal data, minutes each) run
    first, the longest first (``paper(minutes=...)``): with ``--maxschedchunk 1`` (Makefile)
    xdist's load scheduling gives each worker two of them, then the next test to whichever
    worker frees first, so the short tests fill the gaps and neither ends on a long tail (the
    two block-drop cases, the largest in memory, come first and run on the same worker)."""

    def minutes(item):
        mark = item.get_closest_marker('paper')
        return mark.kwargs.get('minutes', 1.0) if mark is not None else None

    heavy = sorted((it for it in items if minutes(it) is not None), key=minutes, reverse=True)
    items[:] = heavy + [it for it in items if minutes(it) is None]


@pytest.fixture
def spawn_ranks():
    """``spawn_ranks(target, world=2)`` runs ``target(rank, port, queue)`` in ``world`` spawned
    processes (a free TCP port for ``init_process_group``) and returns ``{rank: result}`` from
    the ``(rank, result)`` pairs they put on the queue; fails if one of them fails."""

    def run(target, world=2, timeout=240):
        with socket.socket() as sock:
            sock.bind(('127.0.0.1', 0))
            port = sock.getsockname()[1]
        ctx = mp.get_context('spawn')
        results = ctx.Queue()
        procs = [ctx.Process(target=target, args=(r, port, results)) for r in range(world)]
        for p in procs:
            p.start()
        try:
            out = dict(results.get(timeout=timeout) for _ in range(world))
        except queue_module.Empty:
            out = None
        for p in procs:
            p.join(timeout=60)
        assert out is not None and all(p.exitcode == 0 for p in procs), \
            f'spawned ranks failed, exit codes {[p.exitcode for p in procs]}'
        return out

    return run


@pytest.fixture(scope='session')
def tiny_video_tad(tmp_path_factory):
    """A tiny synthetic raw-video TAD benchmark (4 train / 2 val videos of 48-56 frames, 32 px,
    2 classes; ``annotations.json``, ``class_map.txt``, ``videos/``), generated once."""
    from mmtad_ext.datasets.synthetic.video_tad import generate_synthetic_video_tad
    root = tmp_path_factory.mktemp('tiny_video_tad')
    generate_synthetic_video_tad(str(root), num_train=4, num_val=2, num_classes=2, size=32,
                                 min_frames=48, max_frames=56, min_action_frames=12,
                                 max_action_frames=20, seed=1)
    return str(root)


@pytest.fixture(scope='session')
def block_drop_clips(tmp_path_factory):
    """A tiny synthetic clip dataset (16 train / 8 val clips, 4 classes, 16 frames, 32 px)."""
    from mmtad_ext.datasets.synthetic import make_clip_dataset
    root = str(tmp_path_factory.mktemp('block_drop_clips'))
    make_clip_dataset(root, dict(train=16, val=8), num_classes=4, num_frames=16, size=32)
    return root


@pytest.fixture(scope='session')
def block_drop_cfg(block_drop_clips):
    """``block_drop_cfg(work_dir, stage_epochs, max_drops, name, **hook)`` -> the synthetic
    block-drop config shrunk for tests (``_helpers.tiny_configs.block_drop_config``) on
    ``block_drop_clips``."""
    from _helpers.tiny_configs import block_drop_config

    def make(work_dir, stage_epochs=2, max_drops=2, name='bd', **hook):
        return block_drop_config(block_drop_clips, work_dir, stage_epochs, max_drops, name,
                                 **hook)

    return make
