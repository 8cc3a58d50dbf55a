"""BlockSelector without a model run: the selection loader config, the subset's ground truth,
the choice rule (ties: the earliest block) and what ``metric_before`` is per criterion.

The criteria's values on a real model are checked in
``tests/engine/hooks/test_block_drop_hook.py``."""
from types import SimpleNamespace

import pytest
from mmengine.config import Config

from mmtad_ext.engine.block_drop import BlockSelector


class FakeLoader(list):

    def __init__(self, batches, dataset):
        super().__init__(batches)
        self.dataset = dataset


class FakeDataset:

    def __init__(self, names, ground_truth=None):
        self.names = names
        self.metainfo = dict(classes=('a', ), ground_truth=ground_truth) if ground_truth \
            else dict(classes=('a', ))

    def __len__(self):
        return len(self.names)

    def get_data_info(self, i):
        return dict(video_name=self.names[i])


class FakeRunner:

    def __init__(self, dataset):
        self.cfg = Config(dict(
            train_dataloader=dict(batch_size=4, sampler=dict(type='DefaultSampler', shuffle=True),
                                  dataset=dict(type='D', pipeline=['train'])),
            val_dataloader=dict(batch_size=2, dataset=dict(type='D', pipeline=['val'])),
            val_evaluator=dict(type='AccMetric')))
        self.dataset = dataset
        self.loader_cfgs = []

    def build_dataloader(self, cfg, seed=None):
        self.loader_cfgs.append((cfg, seed))
        return FakeLoader(['b0', 'b1'], self.dataset)

    def build_evaluator(self, cfg):
        return SimpleNamespace(cfg=cfg, dataset_meta=None)


def test_default_selection_loader_is_the_train_set_with_the_val_pipeline():
    gt = {'v1': [1], 'v2': [2], 'v3': [3]}
    runner = FakeRunner(FakeDataset(['v1', 'v3'], ground_truth=gt))
    selector = BlockSelector(subset_size=2)
    assert selector.batches(runner) == ['b0', 'b1'] and selector.num_samples == 2
    assert selector.batches(runner) == ['b0', 'b1'] and len(runner.loader_cfgs) == 1  # cached
    cfg, seed = runner.loader_cfgs[0]
    assert seed == 0 and cfg['batch_size'] == 2 and not cfg['sampler']['shuffle']
    assert cfg['dataset']['pipeline'] == ['val'] and cfg['dataset']['test_mode']
    assert cfg['dataset']['indices'] == 2 and cfg['num_workers'] == 0
    assert runner.cfg.train_dataloader.dataset.pipeline == ['train']  # the config is untouched
    # videos outside the subset are not in the evaluator's ground truth (no missed detections)
    assert selector._evaluator.dataset_meta['ground_truth'] == {'v1': [1], 'v3': [3]}
    assert gt == {'v1': [1], 'v2': [2], 'v3': [3]}


def test_explicit_selection_loader_and_meta_without_ground_truth():
    dataset = FakeDataset(['v1'])
    runner = FakeRunner(dataset)
    own = dict(batch_size=1, dataset=dict(type='Other', pipeline=['mine']))
    selector = BlockSelector(selection_dataloader=own)
    selector.batches(runner)
    cfg, _ = runner.loader_cfgs[0]
    assert cfg['dataset'] == own['dataset'] and 'indices' not in cfg['dataset']
    assert 'num_workers' not in own  # the given config is copied, not modified
    assert selector._evaluator.dataset_meta is dataset.metainfo


def model_with_blocks(block_ids):
    return SimpleNamespace(student_encoder=SimpleNamespace(block_ids=block_ids))


@pytest.mark.parametrize('criterion', ['metric', 'loss'])
def test_select_takes_the_best_and_the_earliest_of_ties(criterion, monkeypatch):
    values = {0: 0.1, 2: 0.7, 3: 0.7, 5: 0.2}  # blocks 2 and 3 tie
    calls = []

    def score(self, runner, model, skip=()):
        calls.append(list(skip))
        return values[skip[0]]

    def evaluate(self, runner, model, skip=()):
        calls.append(('eval', list(skip)))
        return 0.5

    monkeypatch.setattr(BlockSelector, 'evaluate', score if criterion == 'metric' else evaluate)
    monkeypatch.setattr(BlockSelector, 'loss_score', score)
    chosen, scores, before = BlockSelector(criterion).select(None, model_with_blocks([0, 2, 3, 5]))
    assert chosen == 2 and scores == values
    if criterion == 'metric':  # the chosen candidate's score is already the metric without it
        assert before == 0.7 and calls == [[0], [2], [3], [5]]
    else:  # one more evaluation: the metric without the chosen block
        assert before == 0.5 and calls == [[0], [2], [3], [5], ('eval', [2])]


def test_select_block_mse_uses_one_pass(monkeypatch):
    monkeypatch.setattr(BlockSelector, 'block_mse_scores',
                        lambda self, runner, model: {1: -0.3, 4: -0.1})
    monkeypatch.setattr(BlockSelector, 'evaluate', lambda self, runner, model, skip=(): 0.25)
    assert BlockSelector('block_mse').select(None, model_with_blocks([1, 4])) == (
        4, {1: -0.3, 4: -0.1}, 0.25)


def test_map_is_the_deprecated_name_of_the_metric_criterion(monkeypatch):
    """``'map'`` (the name before ``'metric'``: it selects on any val metric, e.g. acc/top1)
    warns and then scores exactly as ``'metric'``."""
    assert BlockSelector().criterion == 'metric'
    with pytest.warns(DeprecationWarning, match="criterion='map' is deprecated.*'metric'"):
        selector = BlockSelector('map', metric_key='acc/top1')
    assert selector.criterion == 'metric'
    monkeypatch.setattr(BlockSelector, 'evaluate',
                        lambda self, runner, model, skip=(): {1: 0.3, 4: 0.6}[skip[0]])
    assert selector.select(None, model_with_blocks([1, 4])) == (4, {1: 0.3, 4: 0.6}, 0.6)


def test_bad_arguments():
    with pytest.raises(ValueError, match="criterion .* got 'flops'"):
        BlockSelector('flops')
    with pytest.raises(ValueError, match='subset_size .* got 0'):
        BlockSelector(subset_size=0)
