"""Shared test set-up: every test imports the package (registers modules, applies compat)."""
import os.path as osp
import queue as queue_module
import socket

import pytest
import torch.multiprocessing as mp

import mmtad_ext  # noqa: F401

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
BLOCK_DROP_CONFIG = osp.join(REPO, 'configs', 'block_drop',
                             'block-drop_videomae-tiny_1xb16-8x2x1-3x4e_synthetic-clips-rgb.py')


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
    block-drop config shrunk for tests: a 4-block, 32-wide encoder from random init, batch 8,
    checkpoints every epoch, a stage-relative linear warm-up."""
    from mmengine.config import Config

    def make(work_dir, stage_epochs=2, max_drops=2, name='bd', **hook):
        root = block_drop_clips
        cfg = Config.fromfile(BLOCK_DROP_CONFIG)
        loader = dict(batch_size=8, num_workers=0, persistent_workers=False)
        cfg.merge_from_dict(dict(
            model=dict(student_ckpt=None, student=dict(
                backbone=dict(embed_dims=32, depth=4, num_heads=2),
                cls_head=dict(num_classes=4, in_channels=32))),
            train_dataloader=dict(dataset=dict(ann_file=f'{root}/train_list_videos.txt',
                                               data_prefix=dict(video=root)), **loader),
            val_dataloader=dict(dataset=dict(ann_file=f'{root}/val_list_videos.txt',
                                             data_prefix=dict(video=root)), **loader),
            train_cfg=dict(max_epochs=stage_epochs * max_drops, val_interval=100),
            default_hooks=dict(logger=dict(interval=1),
                               checkpoint=dict(interval=1, max_keep_ckpts=10)),
            work_dir=work_dir, experiment_name=name))
        cfg.test_dataloader = cfg.val_dataloader
        cfg.param_scheduler = [dict(type='LinearLR', start_factor=0.5, by_epoch=True, begin=0,
                                    end=stage_epochs, convert_to_iter_based=True)]
        hook_cfg = dict(tolerance=1.0, metric_key='acc/top1', subset_size=8, latency_repeats=1)
        hook_cfg.update(hook)
        cfg.custom_hooks = [dict(type='BlockDropHook', stage_epochs=stage_epochs,
                                 max_drops=max_drops, **hook_cfg)]
        return cfg

    return make
