"""benchmark_block_drop_seeds --task detector: finished run folders (hand-written, no training)
-> per-variant table, paired differences and the one-shot / long-schedule options."""
import json
import os

import pytest

BASE = 'actionformer_videomae-tiny_1xb4-30e_synthetic-tad-rgb'


@pytest.fixture(scope='module')
def tool(load_tool):
    return load_tool('analysis_tools/benchmark_block_drop_seeds')


def write_run(work, curve, ckpt=None, dropped=None, stopped=True):
    """A run folder as tools/train.py leaves it: scalars.json with the val average mAP per epoch,
    and either the last checkpoint or BlockDropHook's block_drop.json and log line."""
    vis = work / '20261202_000000' / 'vis_data'
    vis.mkdir(parents=True)
    with open(vis / 'scalars.json', 'w') as f:
        for epoch, value in curve.items():
            f.write(json.dumps(dict(loss=1.0, step=epoch * 24)) + '\n')
            f.write(json.dumps({'tad/average_mAP': value, 'tad/mAP@0.5': 2 * value,
                                'step': epoch}) + '\n')
    if ckpt:
        (work / ckpt).write_bytes(b'')
    if dropped is not None:
        stages = [dict(stage=0, depth=8, dropped=None, scores=None, metric_before=30.0,
                       metric_after=30.0, selection_s=None, recovery_s=None)]
        for i, block in enumerate(dropped):
            stages.append(dict(stage=i + 1, depth=7 - i, dropped=block, scores={'0': 1.0},
                               criterion='metric', metric_before=25.0, metric_after=31.0,
                               selection_s=5.0, recovery_s=80.0))
        with open(work / 'block_drop.json', 'w') as f:
            json.dump(dict(dropped=dropped, stopped=stopped, stages=stages), f)
        (work / '20261202_000000' / '20261202_000000.log').write_text(
            'BlockDropHook: baseline tad/average_mAP = 30.0000 on 16 training samples\n')


@pytest.fixture
def runs(tmp_path):
    """Seeds 0 and 1 finished everywhere; seed 1's one-shot still running."""
    for seed, (base, long, prog, one) in {0: (20.0, 24.0, 27.0, 26.0),
                                          1: (22.0, 23.0, 29.0, None)}.items():
        write_run(tmp_path / BASE / f'seed{seed}', {10: 5.0, 30: base}, ckpt='epoch_30.pth')
        write_run(tmp_path / 'uncompressed42' / f'seed{seed}', {30: 1.0, 42: long},
                  ckpt='epoch_42.pth')
        write_run(tmp_path / 'block_drop_progressive' / f'seed{seed}',
                  {4: 10.0, 8: 12.0, 12: prog}, dropped=[3, 5, 4])
        write_run(tmp_path / 'block_drop_oneshot' / f'seed{seed}', {12: one or 0.0},
                  dropped=[3, 5, 4], stopped=one is not None)
    return tmp_path


def args_for(tool, work, *extra):
    return tool.parse_args(['--task', 'detector', '--seeds', '0', '1', '--variants',
                            'progressive', 'oneshot', 'uncompressed42', '--work-dir', str(work),
                            *extra])


def test_table_from_finished_runs(tool, runs, capsys):
    final = tool.summarize(args_for(tool, runs))
    # the last validation of each finished run, in the metric's own unit (percent)
    assert final == {'baseline': {0: 20.0, 1: 22.0}, 'uncompressed42': {0: 24.0, 1: 23.0},
                     'progressive': {0: 27.0, 1: 29.0}, 'oneshot': {0: 26.0}}
    out = capsys.readouterr().out
    assert 'baseline (30 epochs) val average mAP: 21.0 +- 1.0 (n=2)' in out
    assert 'progressive val average mAP after epoch 8: 12.0 +- 0.0 (n=2)' in out
    # b - a over the seeds both finished: 27-24, 29-23
    assert 'paired progressive - uncompressed42: +4.50 +- 1.50 (n=2)' in out
    assert 'paired progressive - baseline: +7.00 +- 0.00 (n=2)' in out
    assert 'paired oneshot - progressive: -1.00 +- nan (n=1) per seed {0: -1.0}' in out
    assert 'paired uncompressed42 - baseline: +2.50 +- 1.50 (n=2)' in out


def test_report_only_lists_blocks_and_times(tool, runs, capsys):
    tool.main(['--task', 'detector', '--seeds', '0', '1', '--variants', 'progressive',
               'oneshot', 'uncompressed42', '--work-dir', str(runs), '--report-only'])
    out = capsys.readouterr().out
    # val mAP per stage | subset before/after | selection s | candidates x clips | recovery s
    assert ('progressive 0 | [3, 5, 4] | 10.0 12.0 27.0 | 25.0/31.0 25.0/31.0 25.0/31.0 | '
            '5.0 5.0 5.0 | 8x16 (128), 7x16 (112), 6x16 (96) | 80 80 80') in out
    assert 'oneshot 1 | not finished' in out
    assert 'uncompressed42 0 |' not in out  # no block-drop record for the long baseline


def test_run_options_follow_the_seed(tool, runs):
    args = args_for(tool, runs)
    one = tool.cfg_options('oneshot', 1, args)
    assert one[:2] == ['randomness.seed=1', 'model.student_ckpt=' + os.path.join(
        str(runs), BASE, 'seed1', 'epoch_30.pth')]
    assert 'custom_hooks.0.one_shot_ids=[3,5,4]' in one  # progressive's choice for this seed
    assert 'custom_hooks.0.stage_epochs=12' in one
    # the long baseline: same config, warm-up kept, the cosine stretched to epoch 42
    assert tool.cfg_options('uncompressed42', 2, args) == [
        'randomness.seed=2', 'train_cfg.max_epochs=42', 'param_scheduler.1.end=42',
        'param_scheduler.1.T_max=37']
    assert tool.run_dir('uncompressed42', 2, args).endswith(os.path.join('uncompressed42',
                                                                         'seed2'))
    assert tool.finished('uncompressed42', 0, args)
    assert not tool.finished('oneshot', 1, args)
    assert tool.ready('uncompressed42', 5, args)  # nothing to wait for
    assert not tool.ready('progressive', 5, args)  # no baseline checkpoint for seed 5
