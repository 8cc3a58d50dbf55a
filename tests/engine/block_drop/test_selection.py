"""BlockSelector without a model run: the selection loader config, the subset's ground truth,
the choice rule (ties: the earliest block) and what ``metric_before`` is per criterion.

The criteria's values on a real model are checked in
``tests/engine/hooks/test_block_drop_hook.py``."""
import contextlib
from types import SimpleNamespace

import pytest
import torch
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
    assert list(selector.loader(runner)) == ['b0', 'b1'] and selector.num_samples == 2
    assert selector.loader(runner) is selector.loader(runner) and len(runner.loader_cfgs) == 1
    cfg, seed = runner.loader_cfgs[0]
    assert seed == 0 and cfg['batch_size'] == 2 and not cfg['sampler']['shuffle']
    assert cfg['dataset']['pipeline'] == ['val'] and cfg['dataset']['test_mode']
    assert cfg['dataset']['indices'] == 2 and cfg['num_workers'] == 0
    assert runner.cfg.train_dataloader.dataset.pipeline == ['train']  # the config is untouched
    # videos outside the subset are not in the evaluator's ground truth (no missed detections)
    evaluator, = selector._evaluators_for(runner, 1)
    assert evaluator.dataset_meta['ground_truth'] == {'v1': [1], 'v3': [3]}
    assert gt == {'v1': [1], 'v2': [2], 'v3': [3]}


def test_truncated_training_set_is_selected_on_the_val_windows():
    """A training set randomly truncated every epoch (regime='full') is scored on the val
    dataset's sliding windows (its regime and window_stride), still the training videos."""
    runner = FakeRunner(FakeDataset(['v1']))
    runner.cfg.train_dataloader.dataset.update(regime='full', subset='training')
    runner.cfg.val_dataloader.dataset.update(regime='sliding', window_stride=576,
                                             subset='validation')
    BlockSelector().loader(runner)
    cfg, _ = runner.loader_cfgs[0]
    assert (cfg['dataset']['regime'], cfg['dataset']['window_stride']) == ('sliding', 576)
    assert cfg['dataset']['subset'] == 'training' and cfg['dataset']['pipeline'] == ['val']


def test_explicit_selection_loader_and_meta_without_ground_truth():
    dataset = FakeDataset(['v1'])
    runner = FakeRunner(dataset)
    own = dict(batch_size=1, dataset=dict(type='Other', pipeline=['mine']))
    selector = BlockSelector(selection_dataloader=own)
    selector.loader(runner)
    cfg, _ = runner.loader_cfgs[0]
    assert cfg['dataset'] == own['dataset'] and 'indices' not in cfg['dataset']
    assert 'num_workers' not in own  # the given config is copied, not modified
    assert selector._evaluators_for(runner, 1)[0].dataset_meta is dataset.metainfo


def model_with_blocks(block_ids):
    return SimpleNamespace(student_encoder=SimpleNamespace(block_ids=block_ids))


@pytest.mark.parametrize('criterion', ['metric', 'loss'])
def test_select_takes_the_best_and_the_earliest_of_ties(criterion, monkeypatch):
    values = {0: 0.1, 2: 0.7, 3: 0.7, 5: 0.2}  # blocks 2 and 3 tie
    calls = []

    def scores(self, runner, model, skips):
        calls.append([list(s) for s in skips])
        return [values[s[0]] if s else 0.5 for s in skips]

    monkeypatch.setattr(BlockSelector, 'metric_scores', scores)
    monkeypatch.setattr(BlockSelector, 'loss_scores', scores)
    chosen, scores_, before = BlockSelector(criterion).select(None,
                                                              model_with_blocks([0, 2, 3, 5]))
    assert chosen == 2 and scores_ == values
    if criterion == 'metric':  # one pass; the chosen candidate's score is the metric without it
        assert before == 0.7 and calls == [[[0], [2], [3], [5]]]
    else:  # one more pass: the metric without the chosen block
        assert before == 0.7 and calls == [[[0], [2], [3], [5]], [[2]]]


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
    monkeypatch.setattr(BlockSelector, 'metric_scores',
                        lambda self, runner, model, skips: [{1: 0.3, 4: 0.6}[s[0]] for s in skips])
    assert selector.select(None, model_with_blocks([1, 4])) == (4, {1: 0.3, 4: 0.6}, 0.6)


def test_bad_arguments():
    with pytest.raises(ValueError, match="criterion .* got 'flops'"):
        BlockSelector('flops')
    with pytest.raises(ValueError, match='subset_size .* got 0'):
        BlockSelector(subset_size=0)


class LiveBatch:
    """A collated batch that counts how many of its kind are alive at once."""
    alive = 0
    most = 0

    def __init__(self, index):
        self.index = index
        LiveBatch.alive += 1
        LiveBatch.most = max(LiveBatch.most, LiveBatch.alive)

    def __del__(self):
        LiveBatch.alive -= 1


class StreamingLoader:
    """Decodes a fresh batch per step of every iteration; counts the iterations."""

    def __init__(self, num_batches, dataset):
        self.num_batches, self.dataset, self.passes = num_batches, dataset, 0

    def __iter__(self):
        self.passes += 1
        for i in range(self.num_batches):
            yield LiveBatch(i)


class CountingEvaluator:

    def __init__(self):
        self.seen, self.dataset_meta = [], None

    def process(self, data_samples, data_batch):
        self.seen.append(data_samples)

    def evaluate(self, size):
        seen, self.seen = self.seen, []
        return {'acc/top1': sum(seen) / len(seen)}


class ScoringModel(torch.nn.Module):
    """A stand-in student: its "prediction" of a batch is 1 - (skipped block) / 10."""

    def __init__(self, block_ids):
        super().__init__()
        self.block_ids = block_ids
        self.skipped = ()

    @property
    def student_encoder(self):
        return self

    @contextlib.contextmanager
    def skip_blocks(self, ids):
        self.skipped = tuple(ids)
        try:
            yield
        finally:
            self.skipped = ()

    def val_step(self, batch):
        assert not self.training
        return 1 - sum(self.skipped) / 10


@pytest.mark.parametrize('num_batches', [3, 48])
def test_selection_streams_the_loader_once_per_pass(num_batches):
    """Memory does not grow with the selection set: the loader is iterated anew per pass (one
    pass scores every candidate, as the public code) and at most two batches are alive at once
    (the loop's current one while the next is decoded), whatever the number of batches."""
    runner = FakeRunner(FakeDataset(['v'] * num_batches))
    loader = StreamingLoader(num_batches, runner.dataset)
    runner.build_dataloader = lambda cfg, seed=None: loader
    runner.build_evaluator = lambda cfg: CountingEvaluator()
    LiveBatch.alive = LiveBatch.most = 0
    selector = BlockSelector('metric', metric_key='acc/top1')
    model = ScoringModel([0, 2, 3, 5])
    chosen, scores, before = selector.select(runner, model)
    assert chosen == 0 and scores == pytest.approx({0: 1.0, 2: 0.8, 3: 0.7, 5: 0.5})
    assert loader.passes == 1  # one pass for all four candidates, no cached batches
    assert selector.evaluate(runner, model, [3]) == pytest.approx(0.7) and loader.passes == 2
    assert LiveBatch.most <= 2 and LiveBatch.alive == 0
    assert model.training  # eval mode only within the passes
