"""tools/analysis_tools/benchmark_paper_configs.py: the config list, the projections, one run."""
import json
import os.path as osp

import pytest
from _helpers.paths import REPO
from _helpers.tool_run import run_tool


def test_listed_configs_exist_and_figures_belong_to_listed_configs(load_tool):
    tool = load_tool('analysis_tools/benchmark_paper_configs')
    for config, (like, modality) in tool.PAPER_CONFIGS.items():
        assert osp.isfile(osp.join(REPO, 'configs', config)), config
        assert like in tool.FULL and modality in ('feature', 'video')
    assert set(tool.GPU_FIGURES) <= set(tool.PAPER_CONFIGS)
    # the A3D paper's 69 min/epoch (Table 2) is the [0.06, 1] A3D-Slow model
    assert '69 min' in tool.GPU_FIGURES[
        'a3d/a3d-0.06-1_slowonly-r50_8xb8-8x8x1-196e_kinetics400-rgb.py']
    assert 'a3d/a3d-0.016-1_slowonly-r50_8xb8-8x8x1-196e_kinetics400-rgb.py' not in \
        tool.GPU_FIGURES


def test_samples_per_video_and_projection(load_tool):
    tool = load_tool('analysis_tools/benchmark_paper_configs')

    class Windows:  # 3 windows of video a, 1 of video b
        infos = [dict(video_name=v) for v in 'aaab']

        def __len__(self):
            return len(self.infos)

        def get_data_info(self, i):
            return self.infos[i]

    assert tool.samples_per_video(Windows()) == 2.0
    r = dict(s_per_iter=10.0, cpu_s_per_iter=5.0, samples_per_video=2.0, batch_size=4,
             epochs=6, test_s_per_video=36.0, test_cpu_s_per_video=18.0)
    p = tool.project('etad/etad_lstm_1xb16-6e_thumos14-i3d-feature.py', 'thumos14', r)
    assert p['iters_per_epoch'] == 100  # 200 videos x 2 windows / 4
    assert p['train_h'] == pytest.approx(10.0 * 100 * 6 / 3600)
    assert p['test_h'] == pytest.approx(36.0 * 213 / 3600)
    assert p['train_cpu_h'] == pytest.approx(p['train_h'] / 2)
    assert p['test_cpu_h'] == pytest.approx(p['test_h'] / 2)


@pytest.mark.slow
def test_one_feature_config_with_a_test_batch_cap(tmp_path):
    out = tmp_path / 'cost.json'
    config = 'actionformer/actionformer_1xb16-15e_activitynet-tsp-feature.py'
    proc = run_tool('analysis_tools/benchmark_paper_configs', [
        '--configs', osp.join(REPO, 'configs', config), '--iters', '1', '--warmup', '0',
        '--train-batch-size', '8', '--test-batches', '1', '--out', str(out)], tmp_path,
        timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(out.read_text())[config]
    assert 'error' not in r, r
    assert r['iters'] == 1 and r['warmup'] == 0 and len(r['iter_times']) == 1
    assert r['batch_size'] == 8 and r['shipped_batch_size'] == 16 and r['epochs'] == 15
    assert r['s_per_shipped_iter'] == pytest.approx(2 * r['s_per_iter'])
    assert r['iters_per_epoch'] == 10024 // 8  # one sample per video, batch 8
    # one test batch of the (one sample per video) ActivityNet test set
    assert r['test_samples_per_video'] == 1.0 and r['test_samples_timed'] >= 1
    assert r['test_s_per_video'] > 0 and r['peak_rss_gb'] > 0
    assert 0 < r['cpu_s_per_iter'] and 0 < r['test_cpu_s_per_video']
    assert len(r['load_avg']) == 2 and len(r['load_avg'][0]) == 3
    assert r['train_h'] > 0 and 'load average' in proc.stdout


def test_block_drop_projection_counts_every_selection_pass(load_tool):
    tool = load_tool('analysis_tools/benchmark_paper_configs')
    r = dict(s_per_iter=10.0, cpu_s_per_iter=5.0, samples_per_video=1.0, batch_size=2,
             epochs=180, test_s_per_video=36.0, test_cpu_s_per_video=18.0,
             structure=dict(hook='BlockDropHook', depth=12, max_drops=3,
                            stage_epochs=[60, 60, 60]))
    p = tool.project('block_drop/block-drop_actionformer-videomae-s_1xb2-3x60e_thumos14-rgb.py',
                     'thumos14', r)
    # the baseline, then 12, 11 and 10 candidates, each a pass over the 200 training videos
    assert p['selection_passes'] == 1 + 12 + 11 + 10
    assert p['selection_h'] == pytest.approx(34 * 36.0 * 200 / 3600)
    assert p['selection_cpu_h'] == pytest.approx(p['selection_h'] / 2)
    assert 'selection_h' not in tool.project(
        'etad/etad_lstm_1xb16-6e_thumos14-i3d-feature.py', 'thumos14', dict(r, structure=None))


@pytest.mark.parametrize('config,hook', [
    ('block_drop/block-drop_actionformer-videomae-tiny_1xb4-3x4e_synthetic-tad-rgb.py',
     'BlockDropHook'),
    ('block_drop/actionformer_videomae-s-lora96_1xb2-60e_thumos14-rgb.py', 'LoRAFinetuneHook')])
def test_training_structure_is_what_the_hooks_build(load_tool, config, hook):
    """The timed model trains what the config's hook trains: LoRA injected (block drop: stage
    1, one block fewer), the frozen encoder weights without gradients."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from mmtad_ext.models.layers.lora import has_lora
    from mmtad_ext.registry import MODELS
    tool = load_tool('analysis_tools/benchmark_paper_configs')
    cfg = Config.fromfile(osp.join(REPO, 'configs', config))
    with DefaultScope.overwrite_default_scope('mmtad_ext'):
        model = MODELS.build(cfg.model)
    enc = model.student_encoder if hook == 'BlockDropHook' else model.backbone.backbone
    depth = enc.depth
    structure = tool.training_structure(cfg, model)
    assert structure['hook'] == hook and has_lora(enc)
    trainable = {n for n, p in enc.named_parameters() if p.requires_grad}
    assert any('lora_' in n for n in trainable)
    assert 'blocks.0.attn.proj.base_layer.weight' not in trainable
    assert 'blocks.0.mlp.layers.1.weight' not in trainable
    if hook == 'BlockDropHook':
        assert enc.depth == depth - 1 == structure['depth'] - 1
        assert structure['max_drops'] == len(structure['stage_epochs'])
        assert not any(p.requires_grad for p in model.teacher.parameters())
    assert tool.training_structure(Config(dict(custom_hooks=[])), model) is None
