"""BlockDropHook: progressive block drop with LoRA recovery inside one training run.

*Temporal Action Detection Model Compression by Progressive Block Drop* (arXiv 2503.16916),
sec. 3 and the public code (``nanxiaolu/Progressive_Block_Drop-TAD``). Each stage of
``stage_epochs`` epochs (one number for every stage, or one per stage):

1. selection: every remaining encoder block is a candidate; the model without it is scored on
   a subset of the *training* split with the test pipeline (``criterion``, scored by
   :class:`~mmtad_ext.engine.block_drop.selection.BlockSelector`); the best is dropped
   (physically: :meth:`VideoMAEEncoder.remove_blocks`);
2. recovery: peft LoRA on ``blocks.N.attn.(qkv|proj)`` of the student's encoder (rank
   ``embed_dims / 4``, ``B = 0``); LoRA, the blocks' LayerNorms, the patch embedding and
   everything outside the encoder (the head) train with the student's own losses plus
   cross-depth distillation from the teacher (:class:`BlockDropDistiller`); the optimizer and
   the stage-relative schedulers are rebuilt from the config;
3. end of stage: LoRA is merged into ``qkv``/``proj``, the model is evaluated and recorded.

It stops when the recovered metric falls more than ``tolerance`` below the uncompressed
baseline (the paper's rule; the last good stage's weights are restored) or after ``max_drops``
stages (the public code's rule). ``work_dir/block_drop.json`` holds every stage's record,
``block_drop.png`` the plot; ``block_drop_stage{t}.pth`` the student after stage ``t``.

With mmengine's ``EMAHook`` in ``custom_hooks`` (the public code's EMA, ``momentum=0.001``
for its decay 0.999) the averaged model follows every structure change (the same block
removed, the same seeded LoRA injected and merged, the same stage restored;
:mod:`~mmtad_ext.engine.block_drop.ema`), the candidates are scored, the stage metric is taken
and ``block_drop_stage{t}.pth`` is written with the averaged weights, the dynamic teacher is the
averaged student, and checkpoints hold the averaged weights as ``state_dict`` (``EMAHook``'s
rule), which ``tools/export_block_drop.py`` exports. Stage results are always taken at the
stage's last epoch on the selection subset of the training split, never on the test split.

Distributed (``tools/train.py --launcher pytorch`` under torchrun): after every change of the
student's structure (block removed, LoRA injected or merged, last good stage restored, structure
restored on resume) the model is wrapped anew with the config's ``model_wrapper_cfg``
(:func:`~mmtad_ext.utils.dist.rewrap_model`) and the optimizer rebuilt over it. The
selection subset is sharded over the ranks (mmengine's ``DefaultSampler``; the ``metric``
criterion's metric is gathered by the evaluator, ``loss`` and ``block_mse`` are summed over the
ranks), and every rank takes rank 0's choice, scores and metrics (so the same block and the same
stop decision). Files are written by rank 0 only; ``work_dir`` must be shared by the ranks
(rank 0's ``block_drop_stage{t}.pth`` is read back by all when the stop rule restores a stage).
At each stage end the ranks' student parameters are checked to be equal.
"""
import copy
import os.path as osp
import time
from typing import Dict, Optional, Sequence, Union

import torch
from mmengine.dist import barrier
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import BaseLoop, EpochBasedTrainLoop

from mmtad_ext.models.layers.lora import (ATTENTION_TARGETS, LORA_INITS, has_lora, inject_lora,
                                         merge_lora)
from mmtad_ext.registry import HOOKS
from mmtad_ext.utils.deprecation import renamed_arg
from mmtad_ext.utils.dist import check_ranks_agree, from_rank0, rewrap_model
from ..block_drop.checkpoint import STATE_KEY, restore_structure, upgrade_state
from ..block_drop.ema import find_ema, load_ema_checkpoint, refresh_ema
from ..block_drop.report import profile_encoder, write_stage_report
from ..block_drop.schedule import (check_stage_epochs, check_stage_plan, stage_length,
                                   stage_schedulers)
from ..block_drop.selection import BlockSelector, resolve_criterion
from ..optimizers.trainable import build_trainable_optim_wrapper

# encoder parameters that train besides LoRA (regexes on names relative to the encoder)
DEFAULT_TRAINABLE = (r'.*lora_.*', r'blocks\.\d+\.norm\d\..*', r'patch_embed\..*')


@HOOKS.register_module()
class BlockDropHook(Hook):
    """Drive progressive block drop (selection, drop, LoRA recovery, merge) stage by stage.

    Needs a :class:`~mmtad_ext.models.distillers.BlockDropDistiller` model and an
    ``EpochBasedTrainLoop`` whose ``max_epochs`` is the sum of the stages' epochs
    (:attr:`total_epochs`; ``max_drops * stage_epochs`` for one number). The config's
    ``param_scheduler`` is *stage-relative* (``begin``/``end`` count from the stage's first
    epoch; a missing ``end`` is the running stage's length, and a ``CosineAnnealingLR`` without
    ``T_max`` then spans ``end - begin``) and is rebuilt, with ``optim_wrapper``, over the
    trainable parameters at every stage start. Save checkpoints at stage ends at least
    (``CheckpointHook(interval=...)`` dividing every stage end; 1 always does): an early stop
    saves nothing else.
    Runs in one process or data-parallel (torchrun, a ``DistributedDataParallel`` wrapper, which
    the hook rebuilds after every structure change); frozen weights (the teacher, LoRA's base
    layers) do not require grad, so DDP ignores them and ``find_unused_parameters`` can stay
    False (mmengine's default).

    Args:
        stage_epochs (int | Sequence[int]): Recovery epochs per dropped block: one number for
            every stage, or one per stage (stage ``t`` trains ``stage_epochs[t - 1]`` epochs,
            the last value repeating if there are more stages; the public ActivityNet setting
            is ``(8, 15, 15)``).
        max_drops (int): Most blocks to drop (the public code: ``depth // 4``).
        tolerance (float): Stop when the recovered metric is more than this below the baseline,
            in the metric's units. Defaults to 1.0.
        criterion (str): ``'metric'`` (the run's val metric ``metric_key``, e.g. ``acc/top1``
            or a TAD mAP, higher is better), ``'loss'`` (the student's ground-truth loss) or
            ``'block_mse'`` (mean squared difference between a block's input and output, one
            forward for all candidates); the public code's ``drop_type`` options, see
            :class:`BlockSelector`. ``'map'`` is the deprecated name of ``'metric'`` (warns).
            Defaults to ``'metric'``.
        metric_key (str, optional): Metric of the val evaluator to select with and to record
            (e.g. ``'acc/top1'``, ``'tad/mAP@0.5'``). Defaults to None: the first one.
        subset_size (int, optional): The first ``subset_size`` training samples are used for
            selection and recording (decoded once and kept in memory for the whole run).
            Defaults to None: all.
        selection_dataloader (dict, optional): Data loader config replacing the default (the
            training dataset with the val pipeline and ``test_mode=True``, the val batch size;
            a randomly truncated training set, ``regime='full'``, is scored on the val windows).
        lora_rank (int, optional): Defaults to None: ``embed_dims // 4``.
        lora_alpha (float, optional): Defaults to None: ``lora_rank`` (scale 1).
        lora_target_modules (str): Regex (peft's ``target_modules``, ``re.fullmatch`` on names
            relative to the encoder) of the modules that get LoRA adapters. Defaults to
            ``r'.*blocks\\.\\d+\\.attn\\.(qkv|proj)'``.
        trainable (Sequence[str]): Regexes (full match, relative to the encoder) of the encoder
            parameters that train besides the rest of the student. Defaults to LoRA, block
            LayerNorms and the patch embedding.
        dynamic_teacher (bool): The teacher is the previous stage's model instead of the
            uncompressed one (the public ActivityNet config). Defaults to False.
        latency_repeats (int): Timed forwards of the encoder per stage (batch 1, on the
            model's device); 0 skips timing. Defaults to 5.
        one_shot_ids (Sequence[int], optional): The one-shot ablation: skip selection and drop
            these blocks (original indices) all at once in a single stage, then recover for
            ``stage_epochs`` epochs (needs ``max_drops=1``). Used to compare progressive
            dropping with dropping the same blocks at once and the same total epochs.
            Defaults to None: progressive.
        lora_targets (str, optional): Deprecated name of ``lora_target_modules`` (warns, and
            wins when both are set; removed in the next release). Defaults to None.
        lora_init (str): Initialisation of LoRA's ``A``: ``'peft'`` (Kaiming-uniform, std
            0.0295 on VideoMAE-S) or ``'public'`` (the public code's ``randn / sqrt(r)``, std
            0.102 at rank 96; see :func:`~mmtad_ext.models.layers.inject_lora`). Defaults to
            ``'peft'``.
    """

    priority = 80  # after ParamSchedulerHook (LOW, 70), before CheckpointHook (VERY_LOW, 90)

    def __init__(self,
                 stage_epochs: Union[int, Sequence[int]],
                 max_drops: int,
                 tolerance: float = 1.0,
                 criterion: str = 'metric',
                 metric_key: Optional[str] = None,
                 subset_size: Optional[int] = None,
                 selection_dataloader: Optional[dict] = None,
                 lora_rank: Optional[int] = None,
                 lora_alpha: Optional[float] = None,
                 lora_target_modules: str = ATTENTION_TARGETS,
                 trainable: Sequence[str] = DEFAULT_TRAINABLE,
                 dynamic_teacher: bool = False,
                 latency_repeats: int = 5,
                 one_shot_ids: Optional[Sequence[int]] = None,
                 lora_targets: Optional[str] = None,
                 lora_init: str = 'peft') -> None:
        if isinstance(max_drops, bool) or not isinstance(max_drops, int) or max_drops < 1:
            raise ValueError(f'BlockDropHook max_drops must be a positive int, got {max_drops!r}')
        self._stage_lengths = check_stage_epochs(stage_epochs)
        if len(self._stage_lengths) > max_drops:
            raise ValueError(f'BlockDropHook stage_epochs {stage_epochs!r} gives '
                             f'{len(self._stage_lengths)} stage lengths but max_drops is '
                             f'{max_drops}: give at most one per stage')
        if tolerance < 0:
            raise ValueError(f'BlockDropHook tolerance must be >= 0, got {tolerance}')
        if lora_rank is not None and (not isinstance(lora_rank, int) or lora_rank < 1):
            raise ValueError(f'BlockDropHook lora_rank must be None or a positive int, got '
                             f'{lora_rank!r}')
        if one_shot_ids is not None:
            if (not one_shot_ids or len(set(one_shot_ids)) != len(one_shot_ids)
                    or not all(isinstance(i, int) and i >= 0 for i in one_shot_ids)):
                raise ValueError('BlockDropHook one_shot_ids must be distinct non-negative '
                                 f'block indices, got {one_shot_ids!r}')
            if max_drops != 1:
                raise ValueError('BlockDropHook one_shot_ids drops its blocks in one stage: '
                                 f'max_drops must be 1, got {max_drops}')
        if lora_init not in LORA_INITS:
            raise ValueError(f'BlockDropHook lora_init must be one of {LORA_INITS}, got '
                             f'{lora_init!r}')
        self.lora_init = lora_init
        self.one_shot_ids = None if one_shot_ids is None else [int(i) for i in one_shot_ids]
        self.stage_epochs = (stage_epochs if isinstance(stage_epochs, int) else
                             tuple(stage_epochs))
        self.max_drops = max_drops
        self.tolerance = float(tolerance)
        criterion = resolve_criterion(criterion, owner='BlockDropHook')
        try:  # the selector checks criterion and subset_size
            self.selector = BlockSelector(criterion, metric_key, subset_size,
                                          selection_dataloader)
        except ValueError as e:
            raise ValueError(f'BlockDropHook: {e}') from e
        self.lora_rank = lora_rank
        self.lora_alpha = lora_alpha
        self.lora_target_modules = renamed_arg('BlockDropHook', 'lora_targets',
                                               'lora_target_modules', lora_targets,
                                               lora_target_modules, ATTENTION_TARGETS)
        self.trainable = tuple(trainable)
        self.dynamic_teacher = dynamic_teacher
        self.latency_repeats = int(latency_repeats)
        self.state = self._fresh_state()
        self._stage_t0: Optional[float] = None  # start of the current timing interval

    def stage_length(self, stage: int) -> int:
        """Epochs of stage ``stage`` (1-based), see :func:`stage_length`."""
        return stage_length(self._stage_lengths, stage)

    def stage_end(self, stage: int) -> int:
        """Epochs trained when stage ``stage`` (1-based) ends (0 for stage 0)."""
        return sum(stage_length(self._stage_lengths, t) for t in range(1, stage + 1))

    @property
    def total_epochs(self) -> int:
        """Epochs of all ``max_drops`` stages: the ``max_epochs`` the run needs."""
        return self.stage_end(self.max_drops)

    @staticmethod
    def _fresh_state() -> Dict:
        # stage: index of the running (or last) stage, 0 = uncompressed; lora: the adapter
        # config while a stage's adapters are unmerged, else None
        return dict(stage=0, dropped=[], lora=None, baseline=None, records=[], stopped=False)

    # -- helpers ----------------------------------------------------------------------------
    @staticmethod
    def _model(runner):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if not hasattr(model, 'student_encoder') or not hasattr(model, 'sync_teacher'):
            raise TypeError('BlockDropHook needs a BlockDropDistiller model (student_encoder, '
                            f'sync_teacher), got {type(model).__name__}')
        return model

    @property
    def criterion(self) -> str:
        """The selection criterion (see :class:`BlockSelector`)."""
        return self.selector.criterion

    @property
    def metric_key(self) -> Optional[str]:
        """The recorded metric; None until the first evaluation resolves the default."""
        return self.selector.metric_key

    def _models(self, runner) -> list:
        """The model and, with an ``EMAHook``, its averaged copy: every structure change
        applies to both."""
        ema = find_ema(runner)
        return [self._model(runner)] + ([ema.module] if ema is not None else [])

    def _scored(self, runner):
        """The model whose weights are scored and kept: the averaged one with an ``EMAHook``
        (as the public code), else the model itself."""
        return self._models(runner)[-1]

    def _after_structure_change(self, runner) -> None:
        ema = find_ema(runner)
        if ema is not None:
            refresh_ema(ema)

    def evaluate(self, runner, skip: Sequence[int] = ()) -> float:
        """``metric_key`` of the student (the averaged one with an ``EMAHook``; without blocks
        ``skip``) on the selection subset."""
        return self.selector.evaluate(runner, self._scored(runner), skip)

    def _profile(self, runner) -> Dict:
        """Encoder MACs (batch 1) and median latency, measured on rank 0 (the other ranks
        wait instead of competing for the machine) and given to every rank."""
        out = None
        if runner.rank == 0:
            out = profile_encoder(self._model(runner).student_encoder, self.latency_repeats)
        return from_rank0(out)

    def _set_trainable(self, model) -> None:
        import re
        model.student.requires_grad_(True)
        enc = model.student_encoder
        patterns = [re.compile(p) for p in self.trainable]
        for name, p in enc.named_parameters():
            p.requires_grad_(any(pat.fullmatch(name) for pat in patterns))
        model.teacher.requires_grad_(False)

    def _build_optimizer(self, runner, stage: Optional[int] = None) -> None:
        """Optimizer over the trainable parameters only; schedulers relative to stage
        ``stage`` (a missing ``end`` is its length; default: the running stage). Call it after
        :func:`rewrap_model` (the count status is initialised on the new wrapper)."""
        model = self._model(runner)
        optim_wrapper = build_trainable_optim_wrapper(model, runner.cfg.optim_wrapper)
        runner.optim_wrapper = optim_wrapper
        stage = stage or max(1, self.state['stage'])
        schedulers = stage_schedulers(runner.cfg.get('param_scheduler'), self.stage_length(stage),
                                      len(runner.train_dataloader), stage)
        runner.param_schedulers = runner.build_param_scheduler(schedulers)
        if hasattr(runner.train_loop, 'iter'):
            optim_wrapper.initialize_count_status(runner.model, runner.train_loop.iter,
                                                  runner.train_loop.max_iters)

    def _lora_cfg(self, model, seed: Optional[int] = None) -> Dict:
        enc = model.student_encoder
        rank = self.lora_rank or max(1, enc.embed_dims // 4)
        return dict(rank=rank, alpha=self.lora_alpha, target_modules=self.lora_target_modules,
                    seed=seed, init=self.lora_init)

    def _apply_lora(self, model, lora: Dict) -> None:
        inject_lora(model.student_encoder, lora['rank'], lora['alpha'], lora['target_modules'],
                    seed=lora.get('seed'), init=lora.get('init', 'peft'))
        self._set_trainable(model)

    def apply_stage(self, model, blocks: Sequence[int], seed: Optional[int] = None) -> Dict:
        """What a stage start does to one model: remove ``blocks`` from the student's encoder,
        inject this hook's LoRA adapters (seeded) and set what trains. Returns the LoRA
        settings."""
        model.student_encoder.remove_blocks(list(blocks))
        lora = self._lora_cfg(model, seed=seed)
        self._apply_lora(model, lora)
        return lora

    # -- the stage loop ---------------------------------------------------------------------
    def before_train(self, runner) -> None:
        """Fresh run: record the baseline and start stage 1 (a resumed run continues)."""
        if not isinstance(runner.train_loop, EpochBasedTrainLoop):
            raise TypeError('BlockDropHook needs an EpochBasedTrainLoop, got '
                            f'{type(runner.train_loop).__name__}')
        model = self._model(runner)
        check_stage_plan(self, model.student_encoder, runner.train_loop.max_epochs,
                         runner.cfg.get('param_scheduler'), len(runner.train_dataloader))
        if self.state['stage'] > 0 or self.state['stopped']:
            # resumed (after_load_checkpoint restored the structure); a stopped run trains no
            # further epoch (the hook would no longer drive it)
            runner.train_loop.stop_training = self.state['stopped']
            return
        if has_lora(model.student_encoder):
            raise RuntimeError('BlockDropHook: the student already holds LoRA adapters')
        ema = find_ema(runner)
        if ema is not None:  # built before the weights were initialised/loaded: start equal
            ema.module.load_state_dict(model.state_dict(), strict=True)
            refresh_ema(ema)
        t0 = time.perf_counter()
        self.selector.loader(runner)
        baseline = from_rank0(self.evaluate(runner))
        self.state['baseline'] = baseline
        record = dict(stage=0, dropped=None, depth=model.student_encoder.depth,
                      kept=list(model.student_encoder.block_ids), metric_before=baseline,
                      metric_after=baseline, scores=None, selection_s=None,
                      recovery_s=None, accepted=True, eval_s=time.perf_counter() - t0)
        record.update(self._profile(runner))
        self.state['records'].append(record)
        self._save_stage_weights(runner, 0)
        print_log(f'BlockDropHook: baseline {self.metric_key} = {baseline:.4f} on '
                  f'{self.selector.num_samples} training samples', logger='current')
        self._start_stage(runner)

    def _start_stage(self, runner) -> None:
        model = self._model(runner)
        enc = model.student_encoder
        t0 = time.perf_counter()
        if self.one_shot_ids is not None:  # ablation: the given blocks at once, no selection
            chosen, scores = list(self.one_shot_ids), {}
            before = self.evaluate(runner, chosen)
        else:
            chosen, scores, before = self.selector.select(runner, self._scored(runner))
        # every rank drops rank 0's choice (and records its scores)
        chosen, scores, before = from_rank0((chosen, scores, before))
        selection_s = time.perf_counter() - t0
        models, scored = self._models(runner), self._scored(runner)
        if self.dynamic_teacher:  # the previous stage's (merged; averaged with EMA) model
            for m in models:
                m.sync_teacher(scored.student)
        ids = chosen if isinstance(chosen, list) else [chosen]  # one-shot: several at once
        stage = self.state['stage'] + 1
        # the same adapters in the model and its averaged copy (then frozen there); seeded, not
        # the global RNG: resumed at a stage end, the run makes the same adapters
        for m in models:
            lora = self.apply_stage(m, ids, seed=(runner.seed or 0) + stage)
        self._after_structure_change(runner)
        rewrap_model(runner)  # DDP over the new structure and trainable parameters
        self._build_optimizer(runner, stage)
        self.state.update(stage=stage, lora=lora)
        self.state['dropped'].extend(ids)
        self.state['records'].append(
            dict(stage=stage, dropped=chosen, depth=enc.depth, kept=list(enc.block_ids),
                 epochs=self.stage_length(stage),
                 scores={str(k): v for k, v in scores.items()}, criterion=self.criterion,
                 metric_before=before, selection_s=selection_s, recovery_s=0.0))
        self._stage_t0 = time.perf_counter()
        n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
        n_lora = sum(p.numel() for n, p in enc.named_parameters() if 'lora_' in n)
        n_enc = sum(p.numel() for n, p in enc.named_parameters() if 'lora_' not in n)
        print_log(f'BlockDropHook: stage {stage} ({self.stage_length(stage)} epochs, to epoch '
                  f'{self.stage_end(stage)}): drop block {chosen} ({self.criterion} scores '
                  f'{ {k: round(v, 4) for k, v in scores.items()} }), {self.metric_key} '
                  f'before recovery {before:.4f}; LoRA rank {lora["rank"]}: {n_lora} params '
                  f'({100 * n_lora / n_enc:.1f}% of the encoder), {n_train} trainable',
                  logger='current')

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self.state['lora'] is not None and self.state['records']:
            rec = self.state['records'][-1]
            if self._stage_t0 is not None:  # training time only (no validation, no saving)
                rec['recovery_s'] = rec.get('recovery_s', 0.0) + time.perf_counter() - \
                    self._stage_t0
            self._stage_t0 = time.perf_counter()

    def before_train_epoch(self, runner) -> None:
        """Start the next stage here, not at the end of the previous one, so that the
        validation after a stage's last epoch (which the loop runs after ``after_train_epoch``)
        sees the recovered model, not the next block already dropped."""
        if self.state['lora'] is None and self.state['stage'] > 0 and not self.state['stopped']:
            self._start_stage(runner)
        self._stage_t0 = time.perf_counter()

    def after_train_epoch(self, runner) -> None:
        """At a stage's last epoch: merge, evaluate, record; stop or (next epoch) go on."""
        if self.state['lora'] is None or self.state['stopped']:
            return
        if runner.epoch + 1 != self.stage_end(self.state['stage']):  # stage t ends there
            return
        self._finish_stage(runner)

    def _finish_stage(self, runner) -> None:
        model = self._model(runner)
        stage = self.state['stage']
        check_ranks_agree(model.student, f'BlockDropHook stage {stage}')
        for m in self._models(runner):
            merge_lora(m.student_encoder)
        self._after_structure_change(runner)
        self.state['lora'] = None
        rec = self.state['records'][-1]
        baseline = self.state['baseline']
        metric = self.evaluate(runner)
        # the stop decision: rank 0's, on every rank
        metric, accepted = from_rank0((metric, metric >= baseline - self.tolerance))
        rec['metric_after'] = metric
        rec.update(self._profile(runner))
        rec['accepted'] = accepted
        last_epoch = runner.epoch + 1 >= runner.train_loop.max_epochs
        if not rec['accepted']:
            good = max(r['stage'] for r in self.state['records'] if r.get('accepted', True))
            print_log(f'BlockDropHook: stage {stage} recovered {self.metric_key} '
                      f'{rec["metric_after"]:.4f} < baseline {baseline:.4f} - tolerance '
                      f'{self.tolerance}: stop, keep stage {good}', logger='current')
            barrier()  # rank 0 wrote the file (at stage ``good``'s end)
            ckpt = torch.load(self._stage_path(runner, good), map_location='cpu',
                              weights_only=True)
            for m in self._models(runner):  # with EMA: both are the stage's averaged model
                m.load_student(ckpt)
            self._after_structure_change(runner)
            kept = set(model.student_encoder.block_ids)  # the model kept: stage ``good``'s
            self.state['dropped'] = [i for i in self.state['dropped'] if i not in kept]
            self.state['stopped'] = True
        else:
            self._save_stage_weights(runner, stage)
            if stage >= self.max_drops or last_epoch:
                self.state['stopped'] = True
        rewrap_model(runner)  # LoRA merged away, or the student replaced
        self._report(runner)
        if self.state['stopped']:
            runner.train_loop.stop_training = True
        # else: before_train_epoch starts the next stage, after this epoch's validation

    # -- files ------------------------------------------------------------------------------
    @staticmethod
    def _stage_path(runner, stage: int) -> str:
        return osp.join(runner.work_dir, f'block_drop_stage{stage}.pth')

    def _save_stage_weights(self, runner, stage: int) -> None:
        if runner.rank == 0:
            torch.save(self._scored(runner).student.state_dict(), self._stage_path(runner, stage))

    def _report(self, runner) -> None:
        if runner.rank != 0:
            return
        records = self.state['records']
        summary = dict(metric_key=self.metric_key, baseline=self.state['baseline'],
                       tolerance=self.tolerance, criterion=self.criterion,
                       stage_epochs=[self.stage_length(r['stage']) for r in records
                                     if r['stage'] > 0],
                       dropped=self.state['dropped'], stopped=self.state['stopped'])
        write_stage_report(runner.work_dir, summary, records, self.metric_key)

    # -- checkpoints ------------------------------------------------------------------------
    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint[STATE_KEY] = copy.deepcopy(self.state)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Rebuild the checkpoint's structure (dropped blocks, LoRA) before its weights load,
        rebuild the optimizer and schedulers the runner then restores, and fail on any key
        mismatch (mmengine's load is not strict); every rank does so (and wraps the model anew
        under DDP). At a stage end (merged) the checkpoint's
        optimizer and schedulers are the finished stage's (over LoRA parameters merged away):
        they are dropped, and the next stage builds its own as an uninterrupted run does."""
        model = self._model(runner)
        state = checkpoint.get(STATE_KEY)
        if state is not None:  # (a checkpoint saved before a rename is upgraded)
            self.state = dict(self._fresh_state(), **upgrade_state(copy.deepcopy(state)))
        restore_structure(model, checkpoint)
        if self.state['lora'] is not None:
            self._set_trainable(model)
        ema = find_ema(runner)
        if ema is not None:
            load_ema_checkpoint(ema, checkpoint, resume=bool(getattr(runner, '_resume', False)))
        rewrap_model(runner)  # before the runner loads the weights into runner.model.module
        if not isinstance(getattr(runner, '_train_loop', None), BaseLoop):
            return  # testing (tools/test.py): no optimizer to rebuild
        if self.state['lora'] is not None:
            self._build_optimizer(runner, self.state['stage'])
        elif state is not None:
            checkpoint.pop('optimizer', None)
            checkpoint.pop('param_schedulers', None)
        print_log(f'BlockDropHook: loaded stage {self.state["stage"]}, dropped '
                  f'{self.state["dropped"]}, LoRA {self.state["lora"]}', logger='current')

