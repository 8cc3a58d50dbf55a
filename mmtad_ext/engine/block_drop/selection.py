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

from mmtad_ext.models.utils import eval_mode
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

    The selection subset is decoded once (at the first use) and kept in memory for the whole
    run. In a distributed run each rank holds its shard of the subset (mmengine's
    ``DefaultSampler``, which pads the last shard by repeating the first samples): the
    ``metric`` criterion's metric is gathered over the ranks by the evaluator, the ``loss``
    and ``block_mse`` sums are added over the ranks (means over all the ranks' batches);
    every rank calls the same scoring methods in the same order (they are collective).
    ``model`` arguments are the unwrapped
    :class:`~mmtad_ext.models.distillers.BlockDropDistiller`; ``runner`` builds the data loader
    and the evaluator from its config.

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
            selection subset. Defaults to None: all.
        selection_dataloader (dict, optional): Data loader config replacing the default (the
            training dataset with the val pipeline and ``test_mode=True``, the val batch size).
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
        self._batches: Optional[List] = None
        self._evaluator = None

    def batches(self, runner) -> List:
        """Collated batches of the selection subset, decoded once and reused."""
        if self._batches is not None:
            return self._batches
        cfg = runner.cfg
        if self.selection_dataloader is not None:
            loader_cfg = copy.deepcopy(self.selection_dataloader)
        else:
            loader_cfg = copy.deepcopy(cfg.train_dataloader)
            val_loader = cfg.get('val_dataloader') or cfg.test_dataloader
            loader_cfg['dataset']['pipeline'] = copy.deepcopy(val_loader['dataset']['pipeline'])
            loader_cfg['dataset']['test_mode'] = True
            loader_cfg['batch_size'] = val_loader.get('batch_size', loader_cfg['batch_size'])
            loader_cfg['sampler'] = dict(type='DefaultSampler', shuffle=False)
        loader_cfg['num_workers'] = 0
        loader_cfg['persistent_workers'] = False
        if self.subset_size is not None:
            loader_cfg['dataset']['indices'] = self.subset_size
        loader = runner.build_dataloader(loader_cfg, seed=0)
        evaluator_cfg = cfg.get('val_evaluator') or cfg.test_evaluator
        self._evaluator = runner.build_evaluator(copy.deepcopy(evaluator_cfg))
        self._evaluator.dataset_meta = self._subset_meta(loader.dataset)
        self.num_samples = len(loader.dataset)
        # decoded without touching torch's global generator (the DataLoader iterator draws its
        # base seed from it): a resumed run decodes them inside an epoch, a fresh one before
        with torch.random.fork_rng(devices=[]):
            self._batches = list(loader)
        return self._batches

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
        if self.criterion == 'block_mse':
            scores = self.block_mse_scores(runner, model)
        else:
            score = self.evaluate if self.criterion == 'metric' else self.loss_score
            scores = {i: score(runner, model, skip=[i]) for i in model.student_encoder.block_ids}
        chosen = max(scores, key=lambda i: (scores[i], -i))  # ties: the earliest block
        before = scores[chosen] if self.criterion == 'metric' else self.evaluate(
            runner, model, [chosen])
        return chosen, scores, before

    @torch.no_grad()
    def evaluate(self, runner, model, skip: Sequence[int] = ()) -> float:
        """``metric_key`` of the student (without blocks ``skip``) on the selection subset."""
        batches = self.batches(runner)
        with eval_mode(model), model.student_encoder.skip_blocks(skip):
            for batch in batches:
                self._evaluator.process(data_samples=model.val_step(batch), data_batch=batch)
            metrics = self._evaluator.evaluate(self.num_samples)
        key = self.metric_key or next(iter(metrics))
        if key not in metrics:
            raise KeyError(f'BlockDropHook metric_key {key!r} is not among the evaluator\'s '
                           f'metrics {sorted(metrics)}')
        self.metric_key = key
        return float(metrics[key])

    @torch.no_grad()
    def loss_score(self, runner, model, skip: Sequence[int]) -> float:
        """Minus the mean ground-truth loss of the student without ``skip``."""
        total = 0.0
        with eval_mode(model), model.student_encoder.skip_blocks(skip):
            for batch in self.batches(runner):
                data = model.data_preprocessor(batch, False)
                losses = model.student_losses(data['inputs'], data['data_samples'])
                total += float(model.parse_losses(losses)[0])
        total, count = _sum_over_ranks([total, len(self._batches)])
        return -total / count

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
        try:
            with eval_mode(model):
                for batch in self.batches(runner):
                    model.val_step(batch)
        finally:
            for h in handles:
                h.remove()
        ids = list(sums)
        *totals, count = _sum_over_ranks([sums[i] for i in ids] + [len(self._batches)])
        return {i: -s / count for i, s in zip(ids, totals)}


def _sum_over_ranks(values: List[float]) -> List[float]:
    """``values`` summed element-wise over the ranks (float64); unchanged in one process."""
    if get_world_size() < 2:
        return values
    t = torch.tensor(values, dtype=torch.float64)
    all_reduce(t, op='sum')
    return t.tolist()
