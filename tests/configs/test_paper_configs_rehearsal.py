"""Every paper config trains, validates and tests, unchanged, on rehearsal data.

Rehearsal data (``mmtad_ext.datasets.synthetic.like``) is generated once per dataset into
``<tmp>/data/<dataset>``, the configs' own data paths; every test runs the shipped config with
``cwd`` in a folder whose ``data/<dataset>`` links there, through ``tools/train.py`` (one epoch
of one or two iterations, then the validation pass) and ``tools/test.py`` (``--dump``; feature
configs also ``--no-eval --dump``). Checkpoints a config loads (pretrained encoders, block
drop's trained student) are written there with random weights of the right keys.

Overrides, all listed here: data loaders ``num_workers=0`` / ``persistent_workers=False``;
``train_cfg.max_epochs=1`` (block drop: one stage of one epoch, ``stage_epochs=1``, block 11
dropped without scoring the other candidates, ``one_shot_ids=[11]``; ActivityNet's post-warm-up
cosine then starts at 0); the number of videos (``NUM_VIDEOS``) and their length
(``MAX_DURATION``, tests only). Every case is marked ``paper`` and ``slow``; ``make test`` runs
them all.
"""
import copy
import json
import os
import os.path as osp

import pytest
import torch
from _helpers.paths import REPO
from _helpers.tool_run import TEST, TRAIN, run

pytestmark = pytest.mark.slow
TIMEOUT = 3600  # the VideoMAE-S / R50 configs run one full-size iteration on the CPU

# (like, modality) -> videos per subset and the cap on their duration (seconds): one or two
# training iterations, one validation video, one sliding window per video for the raw-video
# THUMOS configs (a window of the ETAD config spans 128 x 4 frames = 17 s at 30 fps)
NUM_VIDEOS = {
    ('thumos14', 'feature'): (dict(training=2, validation=1), 20.0),
    ('activitynet', 'feature'): (dict(training=2, validation=1), None),
    ('thumos14', 'video'): (dict(training=1, validation=1), 16.0),
    ('activitynet', 'video'): (dict(training=1, validation=1), 16.0),
    ('kinetics400', 'video'): (dict(train=1, val=1), 4.0),
}
LOADERS = [f'{split}_dataloader.{k}={v}' for split in ('train', 'val', 'test')
           for k, v in (('num_workers', 0), ('persistent_workers', False))]
ONE_EPOCH = ['train_cfg.max_epochs=1']

# config, dataset, extra overrides, metric key printed by the validation pass.
# Each is marked ``paper`` with its minutes on one core, so that `make test` starts them first,
# longest first, on its two xdist workers; the end-to-end and Kinetics-400 configs run a
# full-size encoder (a VideoMAE-S THUMOS14 window is about a minute per forward on one core).


def _case(config, dataset, overrides, metric, minutes=None):
    marks = () if minutes is None else (pytest.mark.paper(minutes=minutes), )
    return pytest.param(config, dataset, overrides, metric, id=config.split('/')[-1][:-3],
                        marks=marks)


# Block drop: one stage of one epoch. Its selection pass would score all 12 blocks, 12
# full-size forwards of the training window (13 min here); the test drops block 11 directly
# (one_shot_ids: the same scoring with a block skipped, once), so the stage's LoRA recovery with
# distillation, EMA, merge, stage validation and test run as shipped. Selection over every
# candidate runs in the tiny block-drop tests and in benchmark_block_drop_selection.py.
BLOCK_DROP_ONE_STAGE = ['custom_hooks.0.stage_epochs=1', 'custom_hooks.0.max_drops=1',
                        'custom_hooks.0.one_shot_ids=[11]']
# ActivityNet's cosine starts after the 5-epoch warm-up and ends with the stage: in a 1-epoch
# stage it starts at 0 (BlockDropHook refuses a scheduler that begins after its stage's end)
BLOCK_DROP_ONE_STAGE_ANET = BLOCK_DROP_ONE_STAGE + ['param_scheduler.1.begin=0']
CASES = [
    _case('etad/etad_lstm_1xb16-6e_thumos14-i3d-feature.py', ('thumos14', 'feature'), [],
          'tad/average_mAP', minutes=2),
    _case('etad/etad_lstm_1xb16-6e_activitynet-tsp-feature.py', ('activitynet', 'feature'), [],
          'tad/average_mAP', minutes=1),
    _case('actionformer/actionformer_2xb1-35e_thumos14-i3d-feature.py', ('thumos14', 'feature'),
          [], 'tad/average_mAP', minutes=2),
    _case('actionformer/actionformer_1xb16-15e_activitynet-tsp-feature.py',
          ('activitynet', 'feature'), [], 'tad/average_mAP', minutes=1),
    _case('etad/etad-egs_r2plus1d-r34_1xb4-6e_thumos14-rgb.py', ('thumos14', 'video'), [],
          'tad/average_mAP', minutes=10),
    _case('etad/etad-egs_tsm-r50_4xb4-6e_activitynet-rgb.py', ('activitynet', 'video'), [],
          'tad/average_mAP', minutes=9),
    _case('actionformer/actionformer_videomae-s_1xb2-60e_thumos14-rgb.py', ('thumos14', 'video'),
          [], 'tad/average_mAP', minutes=8),
    _case('actionformer/actionformer_videomae-s_4xb4-15e_activitynet-rgb.py',
          ('activitynet', 'video'), [], 'tad/average_mAP', minutes=6),
    _case('block_drop/block-drop_actionformer-videomae-s_1xb2-3x60e_thumos14-rgb.py',
          ('thumos14', 'video'), BLOCK_DROP_ONE_STAGE, 'tad/average_mAP', minutes=11),
    _case('block_drop/block-drop_actionformer-videomae-s_4xb4-8-15-15e_activitynet-rgb.py',
          ('activitynet', 'video'), BLOCK_DROP_ONE_STAGE_ANET, 'tad/average_mAP', minutes=10.5),
    _case('block_drop/actionformer_videomae-s-lora96_1xb2-60e_thumos14-rgb.py',
          ('thumos14', 'video'), [], 'tad/average_mAP', minutes=6),
    _case('a3d/slowonly_r50_8xb8-8x8x1-196e_kinetics400-rgb.py', ('kinetics400', 'video'), [],
          'acc/top1', minutes=2),
    _case('a3d/a3d-0.016-1_slowonly-r50_8xb8-8x8x1-196e_kinetics400-rgb.py',
          ('kinetics400', 'video'), [], 'acc/top1', minutes=3.5),
    _case('a3d/a3d-0.06-1_slowonly-r50_8xb8-8x8x1-196e_kinetics400-rgb.py',
          ('kinetics400', 'video'), [], 'acc/top1', minutes=2),
    _case('a3d/slowfast_r50_8xb8-4x16x1-196e_kinetics400-rgb.py', ('kinetics400', 'video'), [],
          'acc/top1', minutes=2),
    _case('a3d/a3d-0.06-1_slowfast-r50_8xb8-4x16x1-196e_kinetics400-rgb.py',
          ('kinetics400', 'video'), [], 'acc/top1', minutes=3),
]


@pytest.fixture(scope='session')
def rehearsal_root(tmp_path_factory):
    """``root(like, modality)`` -> a folder holding ``data/<like>``, generated on first use."""
    from mmtad_ext.datasets.synthetic.like import generate_like_clips, generate_like_tad
    roots = {}

    def get(like, modality):
        if (like, modality) not in roots:
            root = tmp_path_factory.mktemp(f'{like}_{modality}')
            counts, max_duration = NUM_VIDEOS[(like, modality)]
            out = str(root / 'data' / like)
            if like == 'kinetics400':
                generate_like_clips(out, like, counts, max_duration=max_duration)
            else:
                generate_like_tad(out, like, modality, counts, max_duration=max_duration)
            roots[(like, modality)] = root
        return roots[(like, modality)]

    return get


def _without_init(cfg: dict) -> dict:
    cfg = copy.deepcopy(cfg)
    cfg.pop('init_cfg', None)
    return cfg


def write_loaded_checkpoints(cfg, cwd: str) -> list:
    """Random-weight stand-ins (right keys) for the checkpoints the model config loads:
    block drop's trained ``student_ckpt`` and ``Pretrained`` backbone ``init_cfg`` files."""
    from mmengine.registry import DefaultScope

    from mmtad_ext.registry import MODELS
    model, written = cfg.model, []
    # mmcv's conv/norm builders resolve names in the default scope, as under the Runner
    scope = DefaultScope.get_instance(f'rehearsal-{id(cfg)}', scope_name='mmtad_ext')

    def save(module, path):
        path = osp.join(cwd, path)
        os.makedirs(osp.dirname(path), exist_ok=True)
        torch.save(dict(state_dict=module.state_dict(), meta=dict(scope=scope.scope_name)), path)
        written.append(path)

    if model.get('student_ckpt'):
        student = copy.deepcopy(model.student)
        student['backbone'] = _without_init(student['backbone'])
        save(MODELS.build(student), model.student_ckpt)
    backbone = model.get('backbone') or {}
    init = backbone.get('init_cfg') or {}
    if init.get('type') == 'Pretrained' and not model.get('student_ckpt'):
        # an mmaction2 recognizer checkpoint: "backbone.*" keys, as the wrapper's state dict
        save(MODELS.build(_without_init(backbone)), init['checkpoint'])
    return written


def _validation_videos(ann_file: str, blocked: list) -> set:
    with open(ann_file) as f:
        database = json.load(f)['database']
    return {v for v, info in database.items()
            if info['subset'] == 'validation' and v not in blocked}


@pytest.mark.parametrize('config,dataset,overrides,metric', CASES)
def test_paper_config_on_rehearsal_data(config, dataset, overrides, metric, rehearsal_root,
                                        tmp_path):
    from mmengine.config import Config
    like, modality = dataset
    root = rehearsal_root(like, modality)
    os.makedirs(tmp_path / 'data')
    os.symlink(root / 'data' / like, tmp_path / 'data' / like)
    cfg_path = osp.join(REPO, 'configs', config)
    write_loaded_checkpoints(Config.fromfile(cfg_path), str(tmp_path))
    work = str(tmp_path / 'work')

    log = run([TRAIN, cfg_path, '--work-dir', work, '--cfg-options'] + LOADERS + ONE_EPOCH +
              overrides, cwd=str(tmp_path), timeout=TIMEOUT)
    assert 'Epoch(train) [1][1/' in log and 'Epoch(val) [1]' in log, log[-3000:]
    assert metric in log  # the validation pass evaluated
    ckpt = osp.join(work, 'epoch_1.pth')
    assert osp.isfile(ckpt)
    if config.startswith('block_drop/block-drop'):  # one stage: block 11 dropped, recorded
        with open(osp.join(work, 'block_drop.json')) as f:
            report = json.load(f)
        assert report['dropped'] == [11] and [r['depth'] for r in report['stages']] == [12, 11]

    if like == 'kinetics400':  # AccMetric: no submission to dump
        log = run([TEST, cfg_path, ckpt, '--work-dir', work, '--cfg-options'] + LOADERS,
                  cwd=str(tmp_path), timeout=TIMEOUT)
        assert metric in log
        return
    dump = str(tmp_path / 'submission.json')
    log = run([TEST, cfg_path, ckpt, '--work-dir', work, '--dump', dump, '--cfg-options'] +
              LOADERS, cwd=str(tmp_path), timeout=TIMEOUT)
    assert metric in log
    from mmtad_ext.datasets.synthetic.like import TAD_PROFILES
    prof = TAD_PROFILES[like]
    blocked = []
    if prof.blocked_file:
        with open(root / 'data' / like / prof.blocked_file) as f:
            blocked = json.load(f)
    with open(dump) as f:
        results = json.load(f)['results']
    assert set(results) == _validation_videos(
        str(root / 'data' / like / prof.ann_file[modality]), blocked)
    labels = {d['label'] for dets in results.values() for d in dets}
    assert labels and labels <= set(prof.classes)
    if modality == 'feature':  # cheap: also the format-only dump
        only = str(tmp_path / 'only.json')
        log = run([TEST, cfg_path, ckpt, '--work-dir', work, '--dump', only, '--no-eval',
                   '--cfg-options'] + LOADERS, cwd=str(tmp_path), timeout=TIMEOUT)
        assert 'evaluation skipped' in log and metric not in log
        with open(only) as f:
            assert set(json.load(f)['results']) == set(results)
