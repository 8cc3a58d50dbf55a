"""LoRAFinetuneHook: train a detector's encoder through LoRA, merged into a plain model at the end.

The uncompressed baseline of *Temporal Action Detection Model Compression by Progressive Block
Drop* (arXiv 2503.16916) in its public form (``nanxiaolu/Progressive_Block_Drop-TAD``,
``configs/adatad/videomae/e2e_thumos_videomae_s_768x1_160_LongLoRA.py``): the VideoMAE encoder
is frozen except LoRA on ``blocks.N.attn.(qkv|proj)`` (rank 96), the LayerNorms and the patch
embedding; everything outside the encoder (neck, head) trains. Here the adapters are peft's
(:func:`~mmtad_ext.models.layers.inject_lora`), injected at ``before_train`` (the optimizer
and the schedulers are rebuilt over the trainable parameters) and merged into ``qkv``/``proj``
after the last epoch, before ``CheckpointHook`` saves it, so the final checkpoint is a plain
model with the encoder's original keys (``W <- W + B A``, no adapter left). With mmengine's
``EMAHook`` the averaged model gets the same seeded adapters and the same merge
(:mod:`~mmtad_ext.engine.block_drop.ema`). A resumed run re-injects the adapters before the
checkpoint's weights and optimizer load.

The model's own freezing is never overridden: an ``EGSBackboneWrapper`` whose
``frozen_modules`` hold a module this hook would train (a LoRA target, or a parameter matched by
``trainable``), or whose ``ratio=0`` freezes the whole encoder, is refused with an error naming
both keys. Parameters outside the encoder keep their own ``requires_grad``.
"""
import copy
import re
from typing import Optional, Sequence

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from mmtad_ext.models.backbones.egs_backbone_wrapper import EGSBackboneWrapper
from mmtad_ext.models.layers.lora import (ATTENTION_TARGETS, LORA_INITS, has_lora, inject_lora,
                                         merge_lora)
from mmtad_ext.registry import HOOKS
from mmtad_ext.utils.dist import rewrap_model
from ..block_drop.ema import find_ema, refresh_ema
from ..optimizers.trainable import build_trainable_optim_wrapper

# encoder parameters that train besides LoRA (regexes on names relative to the encoder): the
# public code's "lora", "norm" (block norms, fc_norm) and "patch_embed" parameter groups
DEFAULT_TRAINABLE = (r'.*lora_.*', r'.*norm\d*\.(weight|bias)', r'patch_embed\..*')


@HOOKS.register_module()
class LoRAFinetuneHook(Hook):
    """Freeze a model's encoder except LoRA, norms and patch embedding; merge LoRA at the end.

    Args:
        rank (int): LoRA rank (the public baseline: 96 on VideoMAE-S).
        encoder_path (str): Dotted path of the encoder in the model. Defaults to
            ``'backbone.backbone'`` (an ``EGSBackboneWrapper``'s ``VideoMAEEncoder``).
        alpha (float, optional): Defaults to None: ``rank`` (scale 1, the public code).
        target_modules (str): Regex of the adapted modules, relative to the encoder. Defaults
            to ``blocks.N.attn.(qkv|proj)``.
        trainable (Sequence[str]): Regexes (full match, relative to the encoder) of the
            encoder parameters that train. Defaults to LoRA, every LayerNorm and the patch
            embedding.
        init (str): LoRA ``A`` init, ``'peft'`` or ``'public'`` (``randn / sqrt(r)``).
            Defaults to ``'public'``.
        seed (int): Seed of the adapters' initialisation (added to the run's seed).
            Defaults to 0.

    Raises:
        ValueError: At ``before_train`` (or on resume), if the model's
            ``EGSBackboneWrapper.frozen_modules`` hold a module the hook would train or its
            ``ratio`` is 0 (see the module doc).
    """

    priority = 40  # ABOVE_NORMAL: before EMAHook (NORMAL) and CheckpointHook (VERY_LOW)

    def __init__(self,
                 rank: int,
                 encoder_path: str = 'backbone.backbone',
                 alpha: Optional[float] = None,
                 target_modules: str = ATTENTION_TARGETS,
                 trainable: Sequence[str] = DEFAULT_TRAINABLE,
                 init: str = 'public',
                 seed: int = 0) -> None:
        if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
            raise ValueError(f'LoRAFinetuneHook rank must be a positive int, got {rank!r}')
        if init not in LORA_INITS:
            raise ValueError(f'LoRAFinetuneHook init must be one of {LORA_INITS}, got {init!r}')
        self.rank, self.alpha, self.init, self.seed = rank, alpha, init, int(seed)
        self.encoder_path = encoder_path
        self.target_modules = target_modules
        self.trainable = tuple(trainable)

    # -- the model ----------------------------------------------------------------------------
    def encoder(self, model):
        model = model.module if is_model_wrapper(model) else model
        try:
            return model.get_submodule(self.encoder_path)
        except AttributeError as e:
            raise AttributeError(f'LoRAFinetuneHook encoder_path {self.encoder_path!r}: no such '
                                 f'module in {type(model).__name__}') from e

    def check_frozen(self, model) -> None:
        """Refuse a model whose own freezing covers what this hook trains (see the module doc).

        Raises:
            ValueError: Naming ``model.<path>.frozen_modules`` (or ``.ratio``), the
                ``LoRAFinetuneHook`` key that would train it, what it matches, and the fix.
        """
        model = model.module if is_model_wrapper(model) else model
        enc_path = self.encoder_path
        enc = self.encoder(model)
        patterns = [re.compile(p) for p in self.trainable]
        trained = [n for n, _ in enc.named_parameters() if any(p.fullmatch(n) for p in patterns)]
        targets = [n for n, _ in enc.named_modules() if n and re.fullmatch(self.target_modules, n)]
        for path, owner in model.named_modules():
            if not isinstance(owner, EGSBackboneWrapper):
                continue
            base = f'{path}.backbone' if path else 'backbone'  # frozen names are relative to it
            if not (enc_path == base or enc_path.startswith(base + '.')):
                continue
            key = f'model.{path}' if path else 'model'
            if owner.ratio == 0:
                raise ValueError(
                    f'{key}.ratio=0 freezes the encoder (no gradient reaches it), but '
                    f'LoRAFinetuneHook (encoder_path={enc_path!r}) trains it: set {key}.ratio > 0 '
                    '(1.0: every snippet) or remove LoRAFinetuneHook from custom_hooks')
            for name in owner.frozen_modules:
                full = f'{base}.{name}' if name else base
                if full == enc_path or enc_path.startswith(full + '.'):
                    rel = ''  # the frozen module holds the whole encoder
                elif full.startswith(enc_path + '.'):
                    rel = full[len(enc_path) + 1:]
                else:
                    continue  # outside the encoder

                def inside(n, rel=rel):
                    return not rel or n == rel or n.startswith(rel + '.')

                lora = [n for n in targets if inside(n)]
                params = [n for n in trained if inside(n)]
                if not lora and not params:
                    continue
                hit = ([f'target_modules={self.target_modules!r} matches {lora[0]!r}'] if lora
                       else []) + ([f'trainable matches {params[0]!r}'] if params else [])
                raise ValueError(
                    f'{key}.frozen_modules holds {name!r}, which LoRAFinetuneHook would train '
                    f'({"; ".join(hit)}; names relative to {enc_path!r}): remove {name!r} '
                    f'from {key}.frozen_modules to train it, or narrow LoRAFinetuneHook\'s '
                    'target_modules / trainable to keep it frozen')

    def apply(self, model, seed: Optional[int] = None) -> None:
        """Inject the adapters into ``model``'s encoder and set what trains in it (parameters
        outside the encoder keep their ``requires_grad``)."""
        self.check_frozen(model)
        enc = self.encoder(model)
        inject_lora(enc, self.rank, self.alpha, self.target_modules, seed=seed, init=self.init)
        patterns = [re.compile(p) for p in self.trainable]
        for name, p in enc.named_parameters():
            p.requires_grad_(any(pat.fullmatch(name) for pat in patterns))

    def merge(self, model) -> int:
        """Merge the adapters into the encoder: a plain model again."""
        return merge_lora(self.encoder(model))

    def _models(self, runner) -> list:
        ema = find_ema(runner)
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        return [model] + ([ema.module] if ema is not None else [])

    def _inject_all(self, runner) -> None:
        seed = (runner.seed or 0) + self.seed
        for m in self._models(runner):
            self.apply(m, seed=seed)
        ema = find_ema(runner)
        if ema is not None:
            refresh_ema(ema)
        rewrap_model(runner)
        self._build_optimizer(runner)

    def _build_optimizer(self, runner) -> None:
        """The config's optimizer and schedulers over the trainable parameters only."""
        optim_wrapper = build_trainable_optim_wrapper(self._models(runner)[0],
                                                      runner.cfg.optim_wrapper)
        runner.optim_wrapper = optim_wrapper
        schedulers = copy.deepcopy(runner.cfg.get('param_scheduler') or [])
        runner.param_schedulers = runner.build_param_scheduler(schedulers)
        if hasattr(runner.train_loop, 'iter'):
            optim_wrapper.initialize_count_status(runner.model, runner.train_loop.iter,
                                                  runner.train_loop.max_iters)

    # -- hooks --------------------------------------------------------------------------------
    def before_train(self, runner) -> None:
        model = self._models(runner)[0]
        if has_lora(self.encoder(model)):
            return  # resumed: after_load_checkpoint injected them
        ema = find_ema(runner)
        if ema is not None:  # built before the weights were loaded: start equal
            ema.module.load_state_dict(model.state_dict(), strict=True)
        self._inject_all(runner)
        enc = self.encoder(model)
        n_lora = sum(p.numel() for n, p in enc.named_parameters() if 'lora_' in n)
        n_enc = sum(p.numel() for p in enc.parameters() if p.requires_grad)
        n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
        print_log(f'LoRAFinetuneHook: LoRA rank {self.rank} ({n_lora} params); {n_enc} '
                  f'trainable in the encoder, {n_train} in the model', logger='current')

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """A checkpoint written mid-run holds the adapters: inject them first (then the
        runner loads the weights and the optimizer over the same parameters)."""
        if not any('lora_' in k for k in checkpoint.get('state_dict', {})):
            return
        if not has_lora(self.encoder(self._models(runner)[0])):
            self._inject_all(runner)  # EMAHook (after this hook) loads the averaged weights

    def _merge_all(self, runner) -> None:
        models = self._models(runner)
        if not has_lora(self.encoder(models[0])):
            return
        n = [self.merge(m) for m in models][0]
        ema = find_ema(runner)
        if ema is not None:
            refresh_ema(ema)
        rewrap_model(runner)
        print_log(f'LoRAFinetuneHook: merged {n} LoRA layers into the encoder', logger='current')

    def after_train_epoch(self, runner) -> None:
        """After the last epoch, before its checkpoint is saved: merge."""
        if runner.epoch + 1 >= runner.train_loop.max_epochs:
            self._merge_all(runner)

    def after_train(self, runner) -> None:
        self._merge_all(runner)  # a run stopped early
