"""Candidate selection of progressive block drop: the selection subset and the criteria.

*Temporal Action Detection Model Compression by Progressive Block Drop* (arXiv 2503.16916),
sec. 3: at each stage every remaining encoder block is a candidate, and the model without it is
scored on a subset of the *training* split with the test pipeline. The three criteria are the
public code's ``drop_type`` options (``nanxiaolu/Progressive_Block_Drop-TAD``,
``tools/train_distillation_auto.py``: ``train_mAP``, ``train_loss``, ``block_mse``; here
``'metric'``, ``'loss'``, ``'block_mse'``), all scored on the one selection subset. Composed
by :class:`~mmtad_ext.engine.hooks.BlockDropHook`.
"""
import copy
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.dist import all_reduce, get_world_size

from mmtad_ext.utils.mode import eval_mode
from mmtad_ext.utils.deprecation import warn_deprecated

CRITERIA = ('metric', 'loss', 'block_mse')
# old criterion names -> current ones (accepted with a deprecation warning for one release)
DEPRECATED_CRITERIA = {'map': 'metric'}


def resolve_criterion(criterion: str, owner: str = 'BlockSelector') -> str:
    """The current name of a selection criterion; a deprecated one (``'map'``) warns."""
    if criterion in DEPRECATED_CRITERIA:
        new = DEPRECATED_CRITERIA[criterion]
        warn_deprecated(owner, f'criterion={criterion!r}',
                        f'criterion={new!r} (it selects on the val metric metric_key)')
        return new
    return criterion


class BlockSelector:
    """Score the remaining encoder blocks of a block-drop student and choose the one to drop.

    The selection loader is *streamed*: every scoring pass iterates it anew and holds one
    collated batch at a time, so memory does not grow with the number of selection samples
    (a THUMOS14 VideoMAE-S window is 56 MiB decoded; keeping the whole training split would
    take about 150 GiB). As in the public code (``eval_drop_one_block``), one pass scores every
    candidate: each batch is decoded once and run once per candidate, so a stage decodes the
    subset once for ``'metric'`` and ``'block_mse'`` (plus one pass for the chosen block's
    metric with ``'loss'`` and ``'block_mse'``), whatever the number of blocks.

    In a distributed run each rank streams its shard of the subset (mmengine's
    ``DefaultSampler``, which pads the last shard by repeating the first samples): the
    ``metric`` criterion's metric is gathered over the ranks by the evaluators, the ``loss``
    and ``block_mse`` sums are added over the ranks (means over all the ranks' batches);
    every rank calls the same scoring methods in the same order (they are collective).
    ``model`` arguments are the unwrapped
    :class:`~mmtad_ext.models.distillers.BlockDropDistiller` (or its EMA copy); ``runner``
    builds the data loader and the evaluators from its config.

    Args:
        criterion (str): ``'metric'`` (the val metric ``metric_key`` of the model without the
            block, e.g. ``acc/top1`` or a TAD mAP, higher is better; the paper's rule),
            ``'loss'`` (minus the student's mean ground-truth loss without the block) or
            ``'block_mse'`` (minus the mean squared difference between a block's input and
            output, one forward for all candidates). ``'map'`` is the deprecated name of
            ``'metric'`` (warns). Defaults to ``'metric'``.
        metric_key (str, optional): Metric of the val evaluator to select with and to record.
            Defaults to None: the first one (resolved at the first evaluation).
        subset_size (int, optional): The first ``subset_size`` training samples form the
            selection subset (selection time is proportional to it; memory is not).
            Defaults to None: all.
        selection_dataloader (dict, optional): Data loader config replacing the default (the
            training dataset with the val pipeline and ``test_mode=True``, the val batch size;
            a training dataset of ``regime='full'``, random truncation, takes the val
            dataset's ``regime`` and ``window_stride``).
    """

    def __init__(self,
                 criterion: str = 'metric',
                 metric_key: Optional[str] = None,
                 subset_size: Optional[int] = None,
                 selection_dataloader: Optional[dict] = None) -> None:
        criterion = resolve_criterion(criterion)
        if criterion not in CRITERIA:
            raise ValueError(f'BlockSelector criterion must be one of {CRITERIA}, got '
                             f'{criterion!r}')
        if subset_size is not None and (not isinstance(subset_size, int) or subset_size < 1):
            raise ValueError(f'BlockSelector subset_size must be None or a positive int, got '
                             f'{subset_size!r}')
        self.criterion = criterion
        self.metric_key = metric_key
        self.subset_size = subset_size
        self.selection_dataloader = selection_dataloader
        self.num_samples = 0  # of the selection subset, once built
        self._loader = None
        self._evaluator_cfg = None
        self._meta = None
        self._evaluators: List = []  # one per candidate scored in one pass, built as needed

    def loader(self, runner):
        """The selection data loader (built once; every pass iterates it anew)."""
        if self._loader is not None:
            return self._loader
        cfg = runner.cfg
        if self.selection_dataloader is not None:
            loader_cfg = copy.deepcopy(self.selection_dataloader)
        else:
            loader_cfg = copy.deepcopy(cfg.train_dataloader)
            val_loader = cfg.get('val_dataloader') or cfg.test_dataloader
            val_dataset = val_loader['dataset']
            loader_cfg['dataset']['pipeline'] = copy.deepcopy(val_dataset['pipeline'])
            loader_cfg['dataset']['test_mode'] = True
            if loader_cfg['dataset'].get('regime') == 'full':  # randomly truncated in training:
                for key in ('regime', 'window_stride'):  # select on the val windows instead
                    if key in val_dataset:
                        loader_cfg['dataset'][key] = val_dataset[key]
            loader_cfg['batch_size'] = val_loader.get('batch_size', loader_cfg['batch_size'])
            loader_cfg['sampler'] = dict(type='DefaultSampler', shuffle=False)
        loader_cfg['num_workers'] = 0
        loader_cfg['persistent_workers'] = False
        if self.subset_size is not None:
            loader_cfg['dataset']['indices'] = self.subset_size
        loader = runner.build_dataloader(loader_cfg, seed=0)
        self._evaluator_cfg = copy.deepcopy(cfg.get('val_evaluator') or cfg.test_evaluator)
        self._meta = self._subset_meta(loader.dataset)
        self.num_samples = len(loader.dataset)
        self._loader = loader
        return loader

    def _evaluators_for(self, runner, count: int) -> List:
        self.loader(runner)
        while len(self._evaluators) < count:
            evaluator = runner.build_evaluator(copy.deepcopy(self._evaluator_cfg))
            evaluator.dataset_meta = self._meta
            self._evaluators.append(evaluator)
        return self._evaluators[:count]

    @staticmethod
    def _subset_meta(dataset) -> Optional[dict]:
        """The dataset's metainfo; a TAD ``ground_truth`` keeps only the subset's videos
        (videos left out of the subset would count as missed detections)."""
        meta = getattr(dataset, 'metainfo', None)
        if not meta or 'ground_truth' not in meta:
            return meta
        names = {dataset.get_data_info(i).get('video_name') for i in range(len(dataset))}
        meta = dict(meta)
        meta['ground_truth'] = {k: v for k, v in meta['ground_truth'].items() if k in names}
        return meta

    def select(self, runner, model) -> Tuple[int, Dict[int, float], float]:
        """Score every remaining block with ``criterion`` and choose the best.

        Returns:
            tuple: The chosen block (original index; ties: the earliest), every candidate's
            score, and ``metric_key`` of the model without the chosen block.
        """
        ids = list(model.student_encoder.block_ids)
        if self.criterion == 'block_mse':
            scores = self.block_mse_scores(runner, model)
        else:
            score = self.metric_scores if self.criterion == 'metric' else self.loss_scores
            scores = dict(zip(ids, score(runner, model, [[i] for i in ids])))
        chosen = max(scores, key=lambda i: (scores[i], -i))  # ties: the earliest block
        before = scores[chosen] if self.criterion == 'metric' else self.evaluate(
            runner, model, [chosen])
        return chosen, scores, before

    def evaluate(self, runner, model, skip: Sequence[int] = ()) -> float:
        """``metric_key`` of the student (without blocks ``skip``) on the selection subset."""
        return self.metric_scores(runner, model, [skip])[0]

    @torch.no_grad()
    def metric_scores(self, runner, model, skips: Sequence[Sequence[int]]) -> List[float]:
        """``metric_key`` of the student without each ``skips[k]``, in one streamed pass."""
        evaluators = self._evaluators_for(runner, len(skips))
        enc = model.student_encoder
        with eval_mode(model):
            for batch in self.loader(runner):
                for skip, evaluator in zip(skips, evaluators):
                    with enc.skip_blocks(skip):
                        evaluator.process(data_samples=model.val_step(batch), data_batch=batch)
                del batch  # one collated batch alive at a time
        scores = []
        for evaluator in evaluators:
            metrics = evaluator.evaluate(self.num_samples)
            key = self.metric_key or next(iter(metrics))
            if key not in metrics:
                raise KeyError(f'BlockDropHook metric_key {key!r} is not among the evaluator\'s '
                               f'metrics {sorted(metrics)}')
            self.metric_key = key
            scores.append(float(metrics[key]))
        return scores

    def loss_score(self, runner, model, skip: Sequence[int]) -> float:
        """Minus the mean ground-truth loss of the student without ``skip``."""
        return self.loss_scores(runner, model, [skip])[0]

    @torch.no_grad()
    def loss_scores(self, runner, model, skips: Sequence[Sequence[int]]) -> List[float]:
        """Minus the mean ground-truth loss without each ``skips[k]``, in one streamed pass."""
        totals = [0.0] * len(skips)
        count = 0
        enc = model.student_encoder
        with eval_mode(model):
            for batch in self.loader(runner):
                data = model.data_preprocessor(batch, False)
                for k, skip in enumerate(skips):
                    with enc.skip_blocks(skip):
                        losses = model.student_losses(data['inputs'], data['data_samples'])
                        totals[k] += float(model.parse_losses(losses)[0])
                count += 1
                del batch, data
        *totals, count = _sum_over_ranks(totals + [count])
        return [-t / count for t in totals]

    @torch.no_grad()
    def block_mse_scores(self, runner, model) -> Dict[int, float]:
        """Minus the mean squared change each block makes to its input (one pass)."""
        enc = model.student_encoder
        sums = {i: 0.0 for i in enc.block_ids}

        def hook_for(index):
            def record(module, args, output):
                sums[index] += float(torch.mean((output - args[0])**2))
            return record

        handles = [blk.register_forward_hook(hook_for(i))
                   for i, blk in zip(enc.block_ids, enc.blocks)]
        count = 0
        try:
            with eval_mode(model):
                for batch in self.loader(runner):
                    model.val_step(batch)
                    count += 1
                    del batch
        finally:
            for h in handles:
                h.remove()
        ids = list(sums)
        *totals, count = _sum_over_ranks([sums[i] for i in ids] + [count])
        return {i: -s / count for i, s in zip(ids, totals)}


def _sum_over_ranks(values: List[float]) -> List[float]:
    """``values`` summed element-wise over the ranks (float64); unchanged in one process."""
    if get_world_size() < 2:
        return values
    t = torch.tensor(values, dtype=torch.float64)
    all_reduce(t, op='sum')
    return t.tolist()
