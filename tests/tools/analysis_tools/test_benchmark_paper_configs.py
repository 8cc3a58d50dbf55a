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
