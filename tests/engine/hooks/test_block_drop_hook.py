"""BlockDropHook: a tiny progressive block-drop run through a real Runner (tiny VideoMAE
Recognizer3D on synthetic clips), resume mid-stage, the stop rule, the criteria, strict loading."""
import copy
import json
import os.path as osp
import re
from types import SimpleNamespace

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from _helpers.data import same_state
from _helpers.tiny_configs import block_drop_detector_config
from mmtad_ext.engine.block_drop import BlockSelector
from mmtad_ext.engine.hooks import BlockDropHook
from mmtad_ext.models.layers.lora import ATTENTION_TARGETS

pytest.importorskip('peft')
REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def hook_of(runner):
    return next(h for h in runner.hooks if isinstance(h, BlockDropHook))


def final_state(path):
    return torch.load(path, map_location='cpu', weights_only=False)['state_dict']


def params_without_grad(runner):
    """Trainable parameters that one training-loss backward leaves without a gradient. Under
    DDP with ``find_unused_parameters=False`` (mmengine's default) any of them fails the next
    iteration; frozen ones (the teacher, LoRA's base layers) are not DDP's concern."""
    model = runner.model
    model.train()
    model.zero_grad(set_to_none=True)
    data = model.data_preprocessor(next(iter(runner.train_dataloader)), True)
    model.parse_losses(model(**data, mode='loss'))[0].backward()
    unused = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    model.zero_grad(set_to_none=True)
    return unused


@pytest.mark.slow  # Runner trainings (2-4 epochs)
def test_progressive_run_then_resume_mid_stage(block_drop_cfg, tmp_path):
    work = str(tmp_path / 'a')
    runner = Runner.from_cfg(block_drop_cfg(work, stage_epochs=2, max_drops=2, name='a'))
    runner.train()
    model, hook = runner.model, hook_of(runner)
    # a stage's optimizer holds exactly the trainable parameters: no teacher, no frozen weights
    hook._apply_lora(model, hook._lora_cfg(model))
    hook._build_optimizer(runner)
    in_optim = {id(p) for g in runner.optim_wrapper.optimizer.param_groups for p in g['params']}
    names = {id(p): n for n, p in model.named_parameters()}
    assert in_optim and all(not names[i].startswith('teacher.') for i in in_optim)
    assert in_optim == {id(p) for p in model.parameters() if p.requires_grad}
    assert all(not names[i].startswith('student.backbone.blocks.') or '.norm' in names[i]
               or 'lora_' in names[i] for i in in_optim)
    assert any('lora_' in names[i] for i in in_optim)
    assert params_without_grad(runner) == []  # DDP needs no find_unused_parameters
    assert any(names[i].startswith('student.cls_head.') for i in in_optim)
    assert not any(names[i].startswith('student.backbone.blocks.') and 'attn.qkv.base_layer'
                   in names[i] for i in in_optim)
    from mmtad_ext.models.layers import merge_lora
    merge_lora(model.student_encoder)
    with open(osp.join(work, 'block_drop.json')) as f:
        report = json.load(f)
    stages = report['stages']
    assert [s['stage'] for s in stages] == [0, 1, 2] and report['stopped']
    assert [s['depth'] for s in stages] == [4, 3, 2]
    assert len(set(report['dropped'])) == 2
    assert stages[0]['macs'] > stages[1]['macs'] > stages[2]['macs'] > 0
    for s in stages[1:]:
        assert len(s['scores']) == s['depth'] + 1  # every remaining block was a candidate
        assert s['metric_before'] == max(s['scores'].values())  # 'metric': the chosen one's score
        assert s['dropped'] not in s['kept'] and s['selection_s'] > 0 and s['recovery_s'] > 0
        assert s['metric_after'] is not None
    assert osp.exists(osp.join(work, 'block_drop.png'))
    sd = final_state(osp.join(work, 'epoch_4.pth'))
    assert not any('lora_' in k for k in sd)  # merged at the end of the last stage
    assert sd['student.backbone.kept_blocks'].tolist() == stages[2]['kept']
    # the fixed teacher is still the uncompressed initial model
    stage0 = torch.load(osp.join(work, 'block_drop_stage0.pth'), weights_only=True)
    assert all(torch.equal(sd[f'teacher.{k}'], v) for k, v in stage0.items())
    assert 'teacher.backbone.kept_blocks' not in sd

    # "killed" after epoch 3 (the middle of stage 2, LoRA unmerged): resume from what is on disk
    ckpt = torch.load(osp.join(work, 'epoch_3.pth'), map_location='cpu', weights_only=False)
    assert any('lora_' in k for k in ckpt['state_dict'])
    lora = ckpt['block_drop']['lora']
    assert lora['target_modules'] == ATTENTION_TARGETS and 'targets' not in lora
    # ... from a checkpoint saved before the rename targets -> target_modules: it still resumes
    lora['targets'] = lora.pop('target_modules')
    old = str(tmp_path / 'epoch_3_old_names.pth')
    torch.save(ckpt, old)
    work_b = str(tmp_path / 'b')
    cfg = block_drop_cfg(work_b, stage_epochs=2, max_drops=2, name='b')
    cfg.resume, cfg.load_from = True, old
    resumed = Runner.from_cfg(cfg)
    resumed.train()
    assert hook_of(resumed).state['dropped'] == report['dropped']
    sd_b = final_state(osp.join(work_b, 'epoch_4.pth'))
    assert set(sd_b) == set(sd)
    assert all(torch.equal(sd[k], sd_b[k]) for k in sd)

    # killed after epoch 2 (stage 1 done and merged, stage 2 not started): the checkpoint's
    # optimizer is stage 1's (LoRA parameters merged away); stage 2 builds its own
    work_c = str(tmp_path / 'c')
    cfg = block_drop_cfg(work_c, stage_epochs=2, max_drops=2, name='c2')
    cfg.resume, cfg.load_from = True, osp.join(work, 'epoch_2.pth')
    Runner.from_cfg(cfg).train()
    sd_c = final_state(osp.join(work_c, 'epoch_4.pth'))
    assert set(sd_c) == set(sd)
    assert all(torch.equal(sd[k], sd_c[k]) for k in sd)


@pytest.mark.slow  # Runner trainings (2-4 epochs)
def test_mismatched_checkpoint_fails_loudly(block_drop_cfg, tmp_path):
    work = str(tmp_path / 'a')
    Runner.from_cfg(block_drop_cfg(work, stage_epochs=1, max_drops=1, name='c')).train()
    ckpt = torch.load(osp.join(work, 'epoch_1.pth'), map_location='cpu', weights_only=False)
    ckpt['state_dict'].pop('student.cls_head.fc_cls.bias')
    bad = str(tmp_path / 'bad.pth')
    torch.save(ckpt, bad)
    cfg = block_drop_cfg(str(tmp_path / 'b'), stage_epochs=1, max_drops=1, name='d')
    cfg.resume, cfg.load_from = True, bad
    with pytest.raises(KeyError, match=r'missing keys \[.student.cls_head.fc_cls.bias.\]'):
        Runner.from_cfg(cfg).train()


@pytest.mark.slow  # Runner trainings (2-4 epochs)
def test_stop_rule_keeps_the_last_good_stage(block_drop_cfg, tmp_path, monkeypatch):
    """Scripted metrics: baseline 0.5, stage 1 recovers 0.45 (within 0.1), stage 2 only 0.3:
    the run stops after stage 2 and the student is stage 1's again."""
    script = {0: 0.5, 1: 0.45, 2: 0.3}

    def fake_evaluate(self, runner, model, skip=()):
        self.metric_key = 'acc/top1'
        return 0.0 if skip else script[hook_of(runner).state['stage']]

    monkeypatch.setattr(BlockSelector, 'evaluate', fake_evaluate)
    work = str(tmp_path / 'a')
    runner = Runner.from_cfg(block_drop_cfg(work, stage_epochs=1, max_drops=3, name='e',
                                      tolerance=0.1, criterion='block_mse'))
    runner.train()
    assert runner.train_loop.epoch == 2  # of 3: stopped by the tolerance rule
    with open(osp.join(work, 'block_drop.json')) as f:
        report = json.load(f)
    assert report['stopped'] and [s['accepted'] for s in report['stages']] == [True, True, False]
    kept1 = report['stages'][1]['kept']
    # the report's "dropped" describes the model kept (stage 1), not the rejected stage 2
    assert report['dropped'] == [report['stages'][1]['dropped']]
    assert hook_of(runner).state['dropped'] == report['dropped']
    student = runner.model.student
    assert runner.model.student_encoder.block_ids == kept1
    stage1 = torch.load(osp.join(work, 'block_drop_stage1.pth'), weights_only=True)
    assert all(torch.equal(v, stage1[k]) for k, v in student.state_dict().items())
    # block_mse scores: minus the mean squared change of each candidate block
    assert all(v <= 0 for v in report['stages'][1]['scores'].values())

    # resuming the stopped run (e.g. --resume on its work dir) trains no further epoch
    cfg = block_drop_cfg(str(tmp_path / 'b'), stage_epochs=1, max_drops=3, name='e2',
                         tolerance=0.1, criterion='block_mse')
    cfg.resume, cfg.load_from = True, osp.join(work, 'epoch_2.pth')
    resumed = Runner.from_cfg(cfg)
    resumed.train()
    assert resumed.train_loop.epoch == 2 and hook_of(resumed).state['stopped']
    assert not osp.exists(str(tmp_path / 'b' / 'epoch_3.pth'))
    assert resumed.model.student_encoder.block_ids == kept1
    assert all(torch.equal(v, stage1[k])
               for k, v in resumed.model.student.state_dict().items())


@pytest.mark.slow
def test_ema_follows_every_stage_scores_with_the_average_and_resumes_exactly(
        block_drop_cfg, tmp_path, monkeypatch):
    """mmengine's EMAHook in the same run: the averaged model loses the same blocks, gets and
    merges the same LoRA, is the model scored for selection and kept as each stage's result
    (stage files, checkpoint ``state_dict``, dynamic teacher), and a resume mid-stage ends with
    exactly the weights and averages of the uninterrupted run."""
    from mmtad_ext.engine.block_drop.ema import find_ema
    from mmtad_ext.models.layers.lora import has_lora
    scored = []
    select = BlockSelector.select

    def spy(self, runner, model):
        scored.append((model is find_ema(runner).module, has_lora(model.student_encoder),
                       model.student_encoder.block_ids == runner.model.student_encoder.block_ids))
        return select(self, runner, model)

    monkeypatch.setattr(BlockSelector, 'select', spy)

    def make(name):
        cfg = block_drop_cfg(str(tmp_path / name), stage_epochs=2, max_drops=2, name=name,
                             dynamic_teacher=True)
        cfg.custom_hooks.append(dict(type='EMAHook', momentum=0.2))  # visible in 4 epochs
        return cfg

    runner = Runner.from_cfg(make('a'))
    runner.train()
    ema = find_ema(runner)
    model = runner.model
    assert scored == [(True, False, True)] * 2  # both selections on the averaged model
    assert ema.module.student_encoder.block_ids == model.student_encoder.block_ids
    assert len(model.student_encoder.block_ids) == 2 and not has_lora(ema.module)
    assert not any(p.requires_grad for p in ema.module.parameters())
    assert set(ema.avg_parameters) == {n for n, _ in model.named_parameters()}
    ckpt = torch.load(osp.join(str(tmp_path / 'a'), 'epoch_4.pth'), map_location='cpu',
                      weights_only=False)
    sd, raw = ckpt['state_dict'], ckpt['ema_state_dict']
    averaged = ema.module.state_dict()
    assert all(torch.equal(sd[k], v) for k, v in averaged.items())  # state_dict: the average
    assert all(torch.equal(raw[f'module.{k}'], v) for k, v in model.state_dict().items())
    key = 'student.cls_head.fc_cls.weight'
    assert not torch.equal(sd[key], raw[f'module.{key}'])  # the average is not the model
    stage2 = torch.load(osp.join(str(tmp_path / 'a'), 'block_drop_stage2.pth'),
                        weights_only=True)
    assert all(torch.equal(stage2[k], v) for k, v in ema.module.student.state_dict().items())
    # the dynamic teacher of stage 2 was stage 1's averaged student (merged)
    stage1 = torch.load(osp.join(str(tmp_path / 'a'), 'block_drop_stage1.pth'),
                        weights_only=True)
    assert all(torch.equal(stage1[k], v) for k, v in model.teacher.state_dict().items())
    with open(osp.join(str(tmp_path / 'a'), 'block_drop.json')) as f:
        stages = json.load(f)['stages']
    assert stages[-1]['metric_after'] == hook_of(runner).evaluate(runner)

    # killed after epoch 3 (stage 2 unmerged): resumed, weights and averages equal exactly
    cfg = make('b')
    cfg.resume, cfg.load_from = True, osp.join(str(tmp_path / 'a'), 'epoch_3.pth')
    Runner.from_cfg(cfg).train()
    ckpt_b = torch.load(osp.join(str(tmp_path / 'b'), 'epoch_4.pth'), map_location='cpu',
                        weights_only=False)
    for part in ('state_dict', 'ema_state_dict'):
        assert set(ckpt_b[part]) == set(ckpt[part])
        assert all(torch.equal(ckpt[part][k], ckpt_b[part][k]) for k in ckpt[part]), part


@pytest.mark.slow  # over ~0.25 s on an idle 2-core machine
def test_loss_and_block_mse_criteria_match_their_definitions(block_drop_cfg, tmp_path):
    init_default_scope('mmtad_ext')
    runner = Runner.from_cfg(block_drop_cfg(str(tmp_path), name='f'))
    runner.model.init_weights()
    selector = BlockSelector(criterion='loss', metric_key='acc/top1', subset_size=8)
    batches = list(selector.loader(runner))
    assert sum(len(b['data_samples']) for b in batches) == 8 and selector.num_samples == 8
    model = runner.model.eval()
    data = model.data_preprocessor(batches[0], False)
    with torch.no_grad():
        with model.student_encoder.skip_blocks([2]):
            loss = model.parse_losses(model.student_losses(**data))[0]
        assert selector.loss_score(runner, model, [2]) == pytest.approx(-float(loss), rel=1e-5)
        # one pass for several candidates scores each as its own pass does
        both = selector.loss_scores(runner, model, [[2], [0]])
        assert both == pytest.approx([selector.loss_score(runner, model, [2]),
                                      selector.loss_score(runner, model, [0])], rel=1e-6)
        metrics = selector.metric_scores(runner, model, [[1], [], [3]])
        assert metrics == [selector.evaluate(runner, model, s) for s in ([1], [], [3])]
        x = data['inputs'].view(-1, *data['inputs'].shape[2:])
        enc = model.student_encoder
        outs = enc.block_outputs(x)
        tokens = enc.patch_embed(x)[0] + enc.pos_embed  # input of block 0
        inputs = {0: tokens, 1: outs[0], 2: outs[1], 3: outs[2]}
        mse = {i: float(torch.mean((outs[i] - inputs[i])**2)) for i in range(4)}
    scores = selector.block_mse_scores(runner, model)
    assert scores == pytest.approx({i: -v for i, v in mse.items()}, rel=1e-5)


@pytest.mark.slow  # Runner trainings (2-4 epochs)
def test_validation_after_a_stage_sees_the_recovered_model(block_drop_cfg, tmp_path):
    """The loop validates after after_train_epoch: the next block must not be dropped yet."""
    from mmengine.hooks import Hook

    class DepthAtVal(Hook):
        def __init__(self):
            self.seen = []

        def before_val_epoch(self, runner):
            enc = runner.model.student_encoder
            self.seen.append((enc.depth, any('lora_' in n for n, _ in enc.named_parameters())))

    cfg = block_drop_cfg(str(tmp_path / 'v'), stage_epochs=1, max_drops=2, name='v')
    cfg.train_cfg.val_interval = 1
    runner = Runner.from_cfg(cfg)
    probe = DepthAtVal()
    runner.register_hook(probe, 'LOWEST')
    runner.train()
    assert probe.seen == [(3, False), (2, False)]  # stage 1's and stage 2's merged models


@pytest.mark.slow  # Runner trainings (2-4 epochs)
def test_one_shot_drops_the_given_blocks_at_once(block_drop_cfg, tmp_path):
    """one_shot_ids: no selection, blocks 1 and 3 leave together in one stage, then recovery."""
    work = str(tmp_path / 'o')
    runner = Runner.from_cfg(block_drop_cfg(work, stage_epochs=2, max_drops=1, name='o',
                                            one_shot_ids=(3, 1)))
    runner.train()
    with open(osp.join(work, 'block_drop.json')) as f:
        report = json.load(f)
    stages = report['stages']
    assert [s['stage'] for s in stages] == [0, 1] and report['stopped']
    assert report['dropped'] == [3, 1]
    assert stages[1]['depth'] == 2 and stages[1]['kept'] == [0, 2]
    assert stages[1]['scores'] == {} and stages[1]['recovery_s'] > 0
    assert runner.model.student_encoder.block_ids == [0, 2]
    sd = final_state(osp.join(work, 'epoch_2.pth'))
    assert sd['student.backbone.kept_blocks'].tolist() == [0, 2]
    assert not any('lora_' in k for k in sd)


def test_deprecated_names_warn_and_still_work():
    """``criterion='map'`` (now ``'metric'``) and ``lora_targets`` (now
    ``lora_target_modules``, peft's name) warn and set the new names."""
    new = BlockDropHook(stage_epochs=1, max_drops=1, lora_target_modules=r'.*attn\.qkv')
    assert new.criterion == 'metric' and new.lora_target_modules == r'.*attn\.qkv'
    with pytest.warns(DeprecationWarning, match="BlockDropHook: criterion='map' is deprecated"):
        old = BlockDropHook(stage_epochs=1, max_drops=1, criterion='map')
    assert old.criterion == 'metric' and old.selector.criterion == 'metric'
    with pytest.warns(DeprecationWarning, match='lora_targets=... is deprecated.*'
                      'lora_target_modules'):
        old = BlockDropHook(stage_epochs=1, max_drops=1, lora_targets=r'.*attn\.qkv')
    assert old.lora_target_modules == r'.*attn\.qkv'
    model = SimpleNamespace(student_encoder=SimpleNamespace(embed_dims=64))
    assert old._lora_cfg(model, seed=3) == dict(rank=16, alpha=None,
                                                target_modules=r'.*attn\.qkv', seed=3,
                                                init='peft')
    with pytest.warns(DeprecationWarning, match="lora_targets='a' overrides"):
        assert BlockDropHook(stage_epochs=1, max_drops=1, lora_targets='a',
                             lora_target_modules='b').lora_target_modules == 'a'


def test_bad_arguments():
    with pytest.raises(ValueError, match='BlockDropHook: .*criterion'):
        BlockDropHook(stage_epochs=1, max_drops=1, criterion='flops')
    with pytest.raises(ValueError, match='BlockDropHook: .*subset_size'):
        BlockDropHook(stage_epochs=1, max_drops=1, subset_size=0)
    with pytest.raises(ValueError, match='stage_epochs'):
        BlockDropHook(stage_epochs=0, max_drops=1)
    with pytest.raises(ValueError, match='tolerance'):
        BlockDropHook(stage_epochs=1, max_drops=1, tolerance=-1)
    with pytest.raises(ValueError, match='max_drops must be 1'):
        BlockDropHook(stage_epochs=1, max_drops=2, one_shot_ids=(1, 2))
    with pytest.raises(ValueError, match='distinct'):
        BlockDropHook(stage_epochs=1, max_drops=1, one_shot_ids=(1, 1))


def test_stage_epochs_per_stage_and_their_validation():
    hook = BlockDropHook(stage_epochs=(8, 15, 15), max_drops=3)
    assert [hook.stage_length(t) for t in (1, 2, 3)] == [8, 15, 15]
    assert [hook.stage_end(t) for t in (0, 1, 2, 3)] == [0, 8, 23, 38]
    assert hook.total_epochs == 38 and hook.stage_epochs == (8, 15, 15)
    short = BlockDropHook(stage_epochs=[2, 5], max_drops=4)  # the last value repeats
    assert [short.stage_length(t) for t in (1, 2, 3, 4)] == [2, 5, 5, 5]
    assert short.total_epochs == 17
    assert BlockDropHook(stage_epochs=10, max_drops=3).total_epochs == 30
    for bad in (0, -1, 1.5, True, (), (8, 0), (8, 2.0), (8, None), '8', None):
        with pytest.raises(ValueError, match=r'BlockDropHook stage_epochs .*got ' +
                           re.escape(repr(bad))):
            BlockDropHook(stage_epochs=bad, max_drops=3)
    with pytest.raises(ValueError, match=r'BlockDropHook stage_epochs \(8, 15, 15\) gives 3 '
                       'stage lengths but max_drops is 2'):
        BlockDropHook(stage_epochs=(8, 15, 15), max_drops=2)


class StageProbe(Hook):
    """Before every epoch (after BlockDropHook starts a stage) and after every epoch (after it
    ends one): the stage, the encoder depth, whether LoRA is in, the schedulers' ends."""

    def __init__(self):
        self.before, self.after = [], []

    def _seen(self, runner):
        from mmtad_ext.models.layers.lora import has_lora
        enc = runner.model.student_encoder
        return (hook_of(runner).state['stage'], enc.depth, has_lora(enc))

    def before_train_epoch(self, runner):
        self.before.append(self._seen(runner) + (runner.param_schedulers[0].end, ))

    def after_train_epoch(self, runner):
        self.after.append(self._seen(runner))


@pytest.mark.slow  # builds a Runner
def test_a_scheduler_longer_than_a_later_stage_is_refused_before_training(block_drop_cfg,
                                                                          tmp_path):
    """A cosine after a 2-epoch warm-up fits stage 1 (3 epochs) but not stage 2 (1 epoch): the
    run stops before the baseline pass, naming the scheduler and the stage."""
    cfg = block_drop_cfg(str(tmp_path / 'w'), stage_epochs=(3, 1), max_drops=2, name='w')
    cfg.param_scheduler = [dict(type='LinearLR', start_factor=0.5, by_epoch=True, begin=0, end=2),
                           dict(type='CosineAnnealingLR', by_epoch=True, begin=2, eta_min=0.0)]
    runner = Runner.from_cfg(cfg)
    with pytest.raises(ValueError, match=r'param_scheduler\[1\] \(CosineAnnealingLR\) begins '
                       r'at 2 and ends at 1 epochs into stage 2, which is 1 epochs long'):
        runner.train()
    assert hook_of(runner).state['records'] == []  # nothing was evaluated or trained
    assert runner.iter == 0


@pytest.mark.slow  # Runner trainings (3 epochs)
def test_stage_epochs_per_stage_drop_at_their_boundaries(block_drop_cfg, tmp_path):
    """stage_epochs=(1, 2): stage 1 is epoch 0, stage 2 epochs 1-2; each stage's scheduler
    spans its own length; the report records the lengths; a resume at the end of stage 1
    continues with stage 2's two epochs to the same weights."""
    work = str(tmp_path / 'a')
    runner = Runner.from_cfg(block_drop_cfg(work, stage_epochs=(1, 2), max_drops=2, name='s'))
    probe = StageProbe()
    runner.register_hook(probe, 'LOWEST')
    runner.train()
    iters = len(runner.train_dataloader)
    assert runner.train_loop.max_epochs == 3 and runner.epoch == 3
    # (stage, depth, LoRA in, scheduler end in iterations)
    assert probe.before == [(1, 3, True, iters), (2, 2, True, 2 * iters), (2, 2, True, 2 * iters)]
    assert probe.after == [(1, 3, False), (2, 2, True), (2, 2, False)]
    with open(osp.join(work, 'block_drop.json')) as f:
        report = json.load(f)
    assert report['stage_epochs'] == [1, 2]
    assert [r.get('epochs') for r in report['stages']] == [None, 1, 2]
    assert [r['depth'] for r in report['stages']] == [4, 3, 2]
    for t in (0, 1, 2):
        assert osp.isfile(osp.join(work, f'block_drop_stage{t}.pth'))
    ckpt1 = torch.load(osp.join(work, 'epoch_1.pth'), map_location='cpu', weights_only=False)
    assert ckpt1['block_drop']['stage'] == 1 and ckpt1['block_drop']['lora'] is None

    work_b = str(tmp_path / 'b')
    cfg = block_drop_cfg(work_b, stage_epochs=(1, 2), max_drops=2, name='s2')
    cfg.resume, cfg.load_from = True, osp.join(work, 'epoch_1.pth')
    resumed = Runner.from_cfg(cfg)
    probe_b = StageProbe()
    resumed.register_hook(probe_b, 'LOWEST')
    resumed.train()
    assert probe_b.before == probe.before[1:] and probe_b.after == probe.after[1:]
    sd, sd_b = final_state(osp.join(work, 'epoch_3.pth')), final_state(
        osp.join(work_b, 'epoch_3.pth'))
    assert set(sd) == set(sd_b) and all(torch.equal(sd[k], sd_b[k]) for k in sd)


@pytest.mark.slow  # builds a Runner (~1.5 s)
def test_max_epochs_inside_a_stage_is_refused(block_drop_cfg, tmp_path):
    cfg = block_drop_cfg(str(tmp_path / 'm'), stage_epochs=(1, 2), max_drops=2, name='m')
    cfg.train_cfg.max_epochs = 2  # stage 2 would end at epoch 3
    runner = Runner.from_cfg(cfg)
    with pytest.raises(ValueError, match=r'BlockDropHook: train_cfg.max_epochs 2 ends inside a '
                       r'stage; stages end at epochs \[1, 3\].*set max_epochs to 3'):
        runner.train()


@pytest.mark.slow  # Runner trainings (2-4 epochs)
def test_actionformer_detector_block_drop_and_export(tiny_video_tad, tmp_path):
    """The TAD path: ActionFormer + EGS(VideoMAEEncoder) compressed stage by stage with the
    average mAP of 4 training videos as the criterion, then exported 2 blocks shorter."""
    cfg = block_drop_detector_config(tiny_video_tad, str(tmp_path / 'work'), stage_epochs=1,
                                     max_drops=2)
    cfg.default_hooks.logger.interval = 1
    cfg.experiment_name = 'tad'
    runner = Runner.from_cfg(cfg)
    runner.train()
    with open(osp.join(cfg.work_dir, 'block_drop.json')) as f:
        report = json.load(f)
    assert report['metric_key'] == 'tad/average_mAP' and len(report['dropped']) == 2
    assert [s['depth'] for s in report['stages']] == [3, 2, 1]
    assert all(0 <= s['metric_after'] <= 100 for s in report['stages'])
    assert len(report['stages'][1]['scores']) == 3

    # "killed" after stage 1 and resumed from its end: same blocks and the same weights,
    # bitwise. EpochSeedHook seeds every iteration: what a stage start draws from torch's global
    # generator (a selection DataLoader's iterator draws its base seed there, and a resumed run
    # builds that loader at another point than an uninterrupted one) does not reach the
    # DropPath masks of the training iterations. (Seeded per epoch only, the resumed weights
    # were up to 2.2e-4 off: the first resumed iteration drew other masks, the loss differed
    # in the 7th digit and AdamW's normalised first steps amplified it to ~2 lr.)
    cfg2 = copy.deepcopy(cfg)
    cfg2.work_dir, cfg2.experiment_name = str(tmp_path / 'resumed'), 'tad_resumed'
    cfg2.resume, cfg2.load_from = True, osp.join(cfg.work_dir, 'epoch_1.pth')
    resumed = Runner.from_cfg(cfg2)
    resumed.train()
    with open(osp.join(cfg2.work_dir, 'block_drop.json')) as f:
        report2 = json.load(f)
    assert report2['dropped'] == report['dropped']
    assert final_state(osp.join(cfg2.work_dir, 'epoch_2.pth')).keys() == \
        final_state(osp.join(cfg.work_dir, 'epoch_2.pth')).keys()
    other = final_state(osp.join(cfg2.work_dir, 'epoch_2.pth'))
    for k, v in final_state(osp.join(cfg.work_dir, 'epoch_2.pth')).items():
        assert same_state(v, other[k]), k

    model, hook = runner.model, hook_of(runner)
    hook._apply_lora(model, hook._lora_cfg(model))  # a stage's trainable set, on the detector
    assert any('lora_' in n for n, p in model.named_parameters() if p.requires_grad)
    assert params_without_grad(runner) == []  # DDP needs no find_unused_parameters
    from mmtad_ext.models.layers import merge_lora
    merge_lora(model.student_encoder)  # back to the trained checkpoint's structure
    cfg_path = str(tmp_path / 'bd_tad.py')
    cfg.dump(cfg_path)
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'export_block_drop', osp.join(REPO, 'tools', 'export_block_drop.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    summary = tool.main(
        [cfg_path, osp.join(cfg.work_dir, 'epoch_2.pth'), str(tmp_path / 'out')])
    assert summary['depth'] == 1 and summary['kept_blocks'] == report['stages'][2]['kept']
    from mmengine.config import Config
    exported = Config.fromfile(summary['config'])
    init_default_scope('mmtad_ext')
    from mmtad_ext.registry import MODELS
    det = MODELS.build(exported.model)
    det.load_state_dict(torch.load(osp.join(str(tmp_path / 'out'), 'model.pth'),
                                   weights_only=True), strict=True)
    assert len(det.backbone.backbone.blocks) == 1


class TeacherProbe(Hook):
    """At every stage start (after BlockDropHook's ``before_train_epoch``): the teacher's kept
    blocks and weights and the optimizer's parameters; at the first iteration of every epoch
    (the loop has called ``model.train()``): whether the teacher is frozen (eval mode, no
    grad, not in the optimizer); at every stage end (after the merge): a copy of the student."""

    def __init__(self, stage_epochs):
        self.stage_epochs = stage_epochs
        self.starts, self.ends = {}, {}

    def before_train_epoch(self, runner):
        if runner.epoch % self.stage_epochs == 0:
            model = runner.model
            self.starts[runner.epoch // self.stage_epochs + 1] = dict(
                kept=list(model.teacher_encoder.block_ids), frozen=[],
                state={k: v.clone() for k, v in model.teacher.state_dict().items()})

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if batch_idx == 0:
            model = runner.model
            optim = {id(p) for g in runner.optim_wrapper.optimizer.param_groups
                     for p in g['params']}
            self.starts[runner.epoch // self.stage_epochs + 1]['frozen'].append(
                model.training and not any(m.training for m in model.teacher.modules())
                and not any(p.requires_grad for p in model.teacher.parameters())
                and not any(id(p) in optim for p in model.teacher.parameters()))

    def after_train_epoch(self, runner):
        if (runner.epoch + 1) % self.stage_epochs == 0:
            self.ends[(runner.epoch + 1) // self.stage_epochs] = copy.deepcopy(
                runner.model.student).eval()


@pytest.fixture(scope='module')
def dynamic_run(block_drop_cfg, tmp_path_factory):
    """A dynamic-teacher run, 2 stages x 2 epochs, a checkpoint every epoch, probed."""
    work = str(tmp_path_factory.mktemp('dynamic_teacher'))
    runner = Runner.from_cfg(block_drop_cfg(work, stage_epochs=2, max_drops=2, name='dyn',
                                            dynamic_teacher=True))
    probe = TeacherProbe(stage_epochs=2)
    runner.register_hook(probe, 'LOWEST')
    runner.train()
    return runner, probe, work


@pytest.mark.slow  # Runner trainings (2-4 epochs)
def test_dynamic_teacher_is_the_previous_merged_stage(dynamic_run):
    """dynamic_teacher: stage 1's teacher is the uncompressed initial model; stage 2's is the
    student at the end of stage 1 after the LoRA merge (same kept blocks, same weights, same
    outputs), frozen throughout (eval mode in training, no grad, not in the optimizer)."""
    from mmtad_ext.models.layers.lora import has_lora
    runner, probe, work = dynamic_run
    assert sorted(probe.starts) == [1, 2] and sorted(probe.ends) == [1, 2]
    assert all(s['frozen'] == [True, True] for s in probe.starts.values())
    stage0 = torch.load(osp.join(work, 'block_drop_stage0.pth'), weights_only=True)
    first = probe.starts[1]
    assert first['kept'] == list(range(4)) and set(first['state']) == set(stage0)
    assert all(torch.equal(first['state'][k], v) for k, v in stage0.items())

    prev, second = probe.ends[1], probe.starts[2]
    want = prev.state_dict()
    assert not any('lora_' in k for k in want)  # merged
    assert second['kept'] == prev.backbone.block_ids == want['backbone.kept_blocks'].tolist()
    assert len(second['kept']) == 3
    assert set(second['state']) == set(want)
    assert all(torch.equal(second['state'][k], v) for k, v in want.items())
    # stage 1 trained the student: the new teacher is not the initial model
    assert not all(torch.equal(stage0[k], v) for k, v in want.items() if k in stage0)
    model = runner.model  # after stage 2: the teacher is still stage 1's merged student
    assert not has_lora(model.teacher) and model.teacher_encoder.block_ids == second['kept']
    batch = next(iter(hook_of(runner).selector.loader(runner)))
    x = model.data_preprocessor(batch, False)['inputs']
    with torch.no_grad():
        assert torch.equal(model.teacher(x, mode='tensor'), prev(x, mode='tensor'))
    stage1 = torch.load(osp.join(work, 'block_drop_stage1.pth'), weights_only=True)
    assert all(torch.equal(stage1[k], v) for k, v in want.items())


@pytest.mark.slow  # Runner trainings (2-4 epochs)
def test_fixed_teacher_is_the_initial_model_in_every_stage(block_drop_cfg, tmp_path):
    work = str(tmp_path / 'w')
    runner = Runner.from_cfg(block_drop_cfg(work, stage_epochs=1, max_drops=2, name='fixed'))
    probe = TeacherProbe(stage_epochs=1)
    runner.register_hook(probe, 'LOWEST')
    runner.train()
    stage0 = torch.load(osp.join(work, 'block_drop_stage0.pth'), weights_only=True)
    assert sorted(probe.starts) == [1, 2]
    for start in probe.starts.values():
        assert start['frozen'] == [True] and start['kept'] == list(range(4))
        assert set(start['state']) == set(stage0)
        assert all(torch.equal(start['state'][k], v) for k, v in stage0.items())
    assert runner.model.student_encoder.depth == 2


@pytest.mark.slow  # Runner trainings (2-4 epochs)
@pytest.mark.parametrize('epoch', [3, 2])
def test_dynamic_teacher_resume(dynamic_run, block_drop_cfg, tmp_path, epoch):
    """Resume a dynamic-teacher run mid stage 2 (epoch 3: the teacher is stage 1's shortened
    model, read from the checkpoint) or at the stage boundary (epoch 2: the checkpoint's
    teacher is still the initial model; stage 2's start syncs it): same drops, same final
    weights, teacher included, as the uninterrupted run."""
    _, _, work = dynamic_run
    ckpt = final_state(osp.join(work, f'epoch_{epoch}.pth'))
    teacher_kept = ckpt.get('teacher.backbone.kept_blocks')
    assert (teacher_kept is not None) == (epoch == 3)
    work_b = str(tmp_path / 'b')
    cfg = block_drop_cfg(work_b, stage_epochs=2, max_drops=2, name=f'dynres{epoch}',
                         dynamic_teacher=True)
    cfg.resume, cfg.load_from = True, osp.join(work, f'epoch_{epoch}.pth')
    resumed = Runner.from_cfg(cfg)
    resumed.train()
    with open(osp.join(work, 'block_drop.json')) as f:
        dropped = json.load(f)['dropped']
    assert hook_of(resumed).state['dropped'] == dropped
    sd, sd_b = final_state(osp.join(work, 'epoch_4.pth')), final_state(osp.join(work_b,
                                                                               'epoch_4.pth'))
    assert set(sd_b) == set(sd) and 'teacher.backbone.kept_blocks' in sd
    assert all(torch.equal(sd[k], sd_b[k]) for k in sd)
