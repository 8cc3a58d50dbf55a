"""Encoder gradient sampling (EGS) around any mmaction2 video backbone.

*ETAD: A Unified Framework for Efficient Temporal Action Detection* (arXiv 2205.07134),
sec. 3.3.

The wrapper turns a grid of raw snippets ``(B, N, C, T, H, W)`` into snippet features
``(B, C', N)`` (backbone + global average pooling) and back-propagates through only a sampled
``round(r * N)`` of the snippets of each video:

- ``mode='joint'`` (paper text): the sampled snippets ``X_a`` are encoded with gradient, the
  others ``X_b`` under ``torch.no_grad`` (no saved activations); the features are re-assembled in
  the original order and the detector's loss is back-propagated once.
- ``mode='two_phase'`` (public ETAD code, lower peak memory): every snippet is encoded without
  gradient; the detector's backward yields ``d loss / d features``; then only the sampled
  snippets are re-encoded with gradient, one chunk at a time, and back-propagated with that
  feature gradient. Backbone and detector gradients accumulate; the optimizer steps once.
  The detector drives this through the interface below (see ``ETAD.train_step``).

Interface for a detector's ``train_step`` (the only coupling between wrapper and detector):

- :attr:`two_phase` -> bool: the current step must run the two-phase protocol.
- :meth:`extract_no_grad` ``(inputs) -> (B, C', N)``: features of every snippet, no graph.
- :meth:`backward_sampled` ``(inputs, feat_grad)``: draw the sample, re-encode it with gradient
  and back-propagate ``feat_grad`` (the gradient w.r.t. the features of ``extract_no_grad``).

The two-phase gradients equal the joint ones only if the backbone is deterministic in training
mode, i.e. ``norm_eval=True`` (the paper freezes all BN) and no dropout / drop-path; otherwise
the re-forward differs from the first forward.
"""
import warnings
from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm
from torch.utils.checkpoint import checkpoint

from mmtad_ext.registry import MODELS, TASK_UTILS
from mmtad_ext.utils.deprecation import renamed_arg, warn_deprecated

NORM_LAYERS = (_BatchNorm, _InstanceNorm, nn.GroupNorm, nn.LayerNorm)


@MODELS.register_module()
class EGSBackboneWrapper(BaseModule):
    """Snippet encoder with encoder gradient sampling (ETAD, arXiv 2205.07134, sec. 3.3, 4.5).

    In eval mode (and with ``ratio=0``) every snippet is encoded under ``torch.no_grad`` in
    chunks of ``chunk_size``. ``ratio=0`` is the paper's "0*": a frozen encoder (all its
    parameters ``requires_grad=False``, the whole backbone in eval mode) that still sees the
    pipeline's data augmentation. ``ratio=1`` is plain end-to-end training.

    Args:
        backbone (dict): Any mmaction2 video backbone taking (M, C, T, H, W) clips, e.g.
            ``ResNet3dSlowOnly``, ``ResNet2Plus1d``, ``ResNetTSM`` or VideoMAE's
            ``VisionTransformer``. Its output (a tensor or the last of a tuple; (M, C', ...) or
            (M, C')) is average-pooled over everything but the channels.
        input_format (str): ``'NCTHW'`` for 3D backbones and ViTs (clips go in as
            (M, C, T, H, W)), ``'NCHW'`` for 2D / TSM backbones (frames go in as (M * T, C, H, W),
            i.e. ``num_segments = T`` for ``ResNetTSM``; features are averaged over T).
            Defaults to ``'NCTHW'``.
        ratio (float): EGS ratio ``r``: the fraction of snippets per video back-propagated, in
            [0, 1] (the ``ratio`` of :class:`SnippetSampler`). Defaults to 0.1 (paper default).
        strategy (str): ``'random'``, ``'grid'`` or ``'block'`` (see :class:`SnippetSampler`).
            Defaults to ``'random'``.
        mode (str): ``'joint'`` or ``'two_phase'``. Defaults to ``'joint'``.
        chunk_size (int): Snippets encoded per backbone call (no-grad forward, and the
            two-phase re-forward). Defaults to 16.
        seed (int, optional): Seed of the snippet sampler. Defaults to None (drawn from torch's
            global RNG once).
        frozen_modules (Sequence[str]): Names (as in ``backbone.named_modules()``) of submodules
            whose parameters are frozen and which stay in eval mode, e.g. ``('conv1', 'layer1')``
            for a ResNet or ``('patch_embed', 'blocks.0', 'blocks.1')`` for a ViT (the paper
            freezes the first two stages). Defaults to ().
        norm_eval (bool): Keep every BN / LN / GN / IN layer in eval mode while training (frozen
            running statistics; paper setting). Defaults to True.
        keep_temporal (bool): Keep the backbone's temporal tokens of each snippet instead of
            pooling them: a backbone output (M, C', t, h, w) or (M, C', t) gives features
            (B, C', N * t) in time order (e.g. ``VideoMAEEncoder(out_type='temporal')``, t = 8
            per 16-frame snippet, as OpenTAD's end-to-end VideoMAE). Sampling stays per snippet.
            Defaults to False.
        temporal_length (int, optional): With ``keep_temporal``, resize the video's
            concatenated tokens (B, C', N * t) linearly to (B, C', temporal_length)
            (``align_corners=False``), OpenTAD's ``Interpolate`` post-processing of its
            end-to-end VideoMAE configs: 48 snippets x 8 tokens -> 768 positions, one per read
            frame (THUMOS14), or -> 192 (ActivityNet). The two-phase backward maps the feature
            gradient back through the same (linear) resize. Defaults to None (no resize).
        with_cp (bool): Activation checkpointing of each with-gradient backbone call
            (``torch.utils.checkpoint``): only the chunk's input is saved and the backbone
            is re-run in the backward pass. Defaults to False.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
        sampling_ratio (float, optional): Deprecated name of ``ratio`` (warns, and wins over
            ``ratio`` when both are set; removed in the next release). Defaults to None.
    """

    MODES = ('joint', 'two_phase')
    INPUT_FORMATS = ('NCTHW', 'NCHW')

    def __init__(self,
                 backbone: dict,
                 ratio: float = 0.1,
                 strategy: str = 'random',
                 mode: str = 'joint',
                 chunk_size: int = 16,
                 seed: Optional[int] = None,
                 frozen_modules: Sequence[str] = (),
                 norm_eval: bool = True,
                 with_cp: bool = False,
                 keep_temporal: bool = False,
                 temporal_length: Optional[int] = None,
                 input_format: str = 'NCTHW',
                 init_cfg: Optional[dict] = None,
                 sampling_ratio: Optional[float] = None):
        super().__init__(init_cfg=init_cfg)
        ratio = renamed_arg('EGSBackboneWrapper', 'sampling_ratio', 'ratio', sampling_ratio,
                            ratio, new_default=0.1)
        if mode not in self.MODES:
            raise ValueError(f'EGSBackboneWrapper: mode must be one of {self.MODES}, got {mode!r}')
        if input_format not in self.INPUT_FORMATS:
            raise ValueError(f'EGSBackboneWrapper: input_format must be one of '
                             f'{self.INPUT_FORMATS}, got {input_format!r}')
        self.input_format = input_format
        if int(chunk_size) < 1:
            raise ValueError(f'EGSBackboneWrapper: chunk_size must be >= 1, got {chunk_size}')
        self.sampler = TASK_UTILS.build(
            dict(type='SnippetSampler', ratio=ratio, strategy=strategy, seed=seed))
        self.backbone = MODELS.build(backbone)
        self.mode = mode
        self.chunk_size = int(chunk_size)
        self.norm_eval = norm_eval
        self.with_cp = with_cp
        self.keep_temporal = keep_temporal
        if keep_temporal and input_format != 'NCTHW':
            raise ValueError("EGSBackboneWrapper: keep_temporal needs input_format='NCTHW'")
        if temporal_length is not None and (not keep_temporal or int(temporal_length) < 1):
            raise ValueError('EGSBackboneWrapper: temporal_length resizes the temporal tokens '
                             'and needs keep_temporal=True and a length >= 1, got '
                             f'temporal_length={temporal_length}, keep_temporal={keep_temporal}')
        self.temporal_length = None if temporal_length is None else int(temporal_length)
        self.frozen_modules = tuple(frozen_modules)
        modules = dict(self.backbone.named_modules())
        for name in self.frozen_modules:
            if name not in modules:
                raise ValueError(f'EGSBackboneWrapper: frozen_modules entry {name!r} is not a '
                                 f'submodule of {type(self.backbone).__name__}; top-level names '
                                 f'are {[n for n, _ in self.backbone.named_children()]}')
            modules[name].requires_grad_(False)
        if self.ratio == 0:  # "0*": frozen encoder
            self.backbone.requires_grad_(False)
        if mode == 'two_phase' and not norm_eval:
            warnings.warn('EGSBackboneWrapper: two_phase with norm_eval=False re-forwards the '
                          'sampled snippets with different batch statistics; the backbone '
                          'gradient then differs from the joint one', stacklevel=2)

    @property
    def ratio(self) -> float:
        """The EGS ratio ``r`` (the sampler's)."""
        return self.sampler.ratio

    @property
    def sampling_ratio(self) -> float:
        """Deprecated name of :attr:`ratio` (warns; removed in the next release)."""
        warn_deprecated('EGSBackboneWrapper', 'sampling_ratio', 'ratio')
        return self.ratio

    @property
    def two_phase(self) -> bool:
        """True when the current training step must use the two-phase protocol."""
        return self.mode == 'two_phase' and self.training and self.ratio > 0

    # -- train/eval state (never changed inside forward) ---------------------------------------
    def train(self, mode: bool = True) -> 'EGSBackboneWrapper':
        """Set train/eval mode, keeping frozen modules and (with ``norm_eval``) norms in eval."""
        super().train(mode)
        if mode:
            if self.ratio == 0:
                self.backbone.eval()
            modules = dict(self.backbone.named_modules())
            for name in self.frozen_modules:
                modules[name].eval()
            if self.norm_eval:
                for m in self.backbone.modules():
                    if isinstance(m, NORM_LAYERS):
                        m.eval()
        return self

    # -- encoding -----------------------------------------------------------------------------
    def _encode(self, clips: torch.Tensor) -> torch.Tensor:
        """Backbone + pooling: (M, C, T, H, W) -> (M, C') or, ``keep_temporal``, (M, C', t)."""
        m, t = clips.shape[0], clips.shape[2]
        if self.input_format == 'NCHW':  # 2D / TSM backbone: frames of all clips in one batch
            clips = clips.transpose(1, 2).flatten(0, 1)  # (M * T, C, H, W)
        out = self.backbone(clips)
        if isinstance(out, (tuple, list)):
            out = out[-1]
        if self.keep_temporal:
            if out.dim() not in (3, 5):
                raise ValueError('EGSBackboneWrapper(keep_temporal=True) needs backbone outputs '
                                 f'(M, C, t) or (M, C, t, h, w), got {tuple(out.shape)}')
            return out.flatten(3).mean(-1) if out.dim() == 5 else out  # (M, C', t)
        if out.dim() > 2:
            out = out.flatten(2).mean(-1)  # (M, C', t, h, w) or (M * T, C', h, w) -> (., C')
        if self.input_format == 'NCHW':
            out = out.view(m, t, -1).mean(1)  # (M * T, C') -> (M, C')
        return out

    def _encode_grad(self, clips: torch.Tensor) -> torch.Tensor:
        """``_encode`` with gradient, checkpointed if ``with_cp``."""
        if self.with_cp:
            return checkpoint(self._encode, clips, use_reentrant=False)
        return self._encode(clips)

    def _encode_chunks(self, clips: torch.Tensor, grad: bool) -> torch.Tensor:
        """Encode (M, C, T, H, W) clips ``chunk_size`` at a time -> (M, C')."""
        outs = []
        for start in range(0, clips.shape[0], self.chunk_size):
            chunk = clips[start:start + self.chunk_size]
            if grad:
                outs.append(self._encode_grad(chunk))
            else:
                with torch.no_grad():
                    outs.append(self._encode(chunk))
        return torch.cat(outs)

    def _to_output(self, feats: torch.Tensor, b: int, n: int) -> torch.Tensor:
        """Per-snippet features (B * N, C') or (B * N, C', t) -> (B, C', N) or (B, C', N * t)
        (resized to (B, C', temporal_length) if set)."""
        if feats.dim() == 2:
            return feats.view(b, n, -1).transpose(1, 2)  # (B, C', N)
        c, t = feats.shape[1:]
        out = feats.view(b, n, c, t).permute(0, 2, 1, 3).reshape(b, c, n * t)  # (B, C', N * t)
        if self.temporal_length is not None and n * t != self.temporal_length:
            out = F.interpolate(out, size=self.temporal_length, mode='linear',
                                align_corners=False)  # (B, C', temporal_length)
        return out

    def _from_output(self, grad: torch.Tensor, b: int, n: int, t: int) -> torch.Tensor:
        """Inverse of :meth:`_to_output` for a feature gradient: -> (B * N, C'[, t]).

        ``t`` is the backbone's tokens per snippet (1 for pooled features)."""
        c, length = grad.shape[1:]
        if self.keep_temporal and length != n * t:  # through the linear resize: its transpose
            with torch.enable_grad():
                x = grad.new_zeros(b, c, n * t, requires_grad=True)
                y = F.interpolate(x, size=length, mode='linear', align_corners=False)
                grad = torch.autograd.grad(y, x, grad)[0]  # (B, C', N * t)
        if not self.keep_temporal:
            return grad.transpose(1, 2).reshape(b * n, c)
        return grad.view(b, c, n, t).permute(0, 2, 1, 3).reshape(b * n, c, t)

    @staticmethod
    def _check_inputs(inputs: torch.Tensor) -> None:
        if inputs.dim() != 6:
            raise ValueError('EGSBackboneWrapper expects raw snippets of shape (B, N, C, T, H, W) '
                             f'(ActionDataPreprocessor with format_shape="NCTHW"), got '
                             f'{tuple(inputs.shape)}')

    def _flat_sample(self, batch_size: int, num_snippets: int, device) -> torch.Tensor:
        """Draw one sample per video; indices into the flattened (B * N) snippets, (B * n,)."""
        idx = self.sampler.sample_batch(batch_size, num_snippets)  # (B, n)
        offset = torch.arange(batch_size)[:, None] * num_snippets
        return (idx + offset).flatten().to(device)

    def extract_no_grad(self, inputs: torch.Tensor) -> torch.Tensor:
        """Features of every snippet without a graph: (B, N, C, T, H, W) -> (B, C', N)."""
        self._check_inputs(inputs)
        b, n = inputs.shape[:2]
        feats = self._encode_chunks(inputs.flatten(0, 1), grad=False)  # (B * N, C'[, t])
        return self._to_output(feats, b, n).contiguous()  # (B, C', N[ * t])

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Snippet features (B, C', N); in training, joint EGS (see the module docstring).

        In ``two_phase`` mode the detector's ``train_step`` does not call ``forward`` in
        training; a direct call (e.g. ``mode='loss'``) computes the joint EGS, whose gradients
        are the same.
        """
        self._check_inputs(inputs)
        if not self.training or self.ratio == 0:
            return self.extract_no_grad(inputs)
        b, n = inputs.shape[:2]
        clips = inputs.flatten(0, 1)  # (B * N, C, T, H, W)
        sampled = self._flat_sample(b, n, inputs.device)  # (B * n_s,)
        if sampled.numel() == clips.shape[0]:  # ratio 1: plain end-to-end
            feats = self._encode_chunks(clips, grad=True)
        else:
            rest_mask = torch.ones(clips.shape[0], dtype=torch.bool, device=inputs.device)
            rest_mask[sampled] = False
            rest = rest_mask.nonzero().squeeze(1)  # (B * (N - n_s),)
            feats_b = self._encode_chunks(clips[rest], grad=False)  # X_b, no saved activations
            feats_a = self._encode_chunks(clips[sampled], grad=True)  # X_a, with gradient
            feats = feats_a.new_zeros(clips.shape[0], *feats_a.shape[1:])
            feats = feats.index_copy(0, rest, feats_b.to(feats_a.dtype))
            feats = feats.index_copy(0, sampled, feats_a)  # (B * N, C'), original order
        return self._to_output(feats, b, n)  # (B, C', N[ * t])

    def backward_sampled(self, inputs: torch.Tensor, feat_grad: torch.Tensor) -> torch.Tensor:
        """Second phase: re-encode the sampled snippets and back-propagate ``feat_grad``.

        Args:
            inputs (Tensor): The (B, N, C, T, H, W) snippets given to :meth:`extract_no_grad`.
            feat_grad (Tensor): d loss / d features, (B, C', N).

        Returns:
            Tensor: The flat indices (B * n,) of the sampled snippets, for inspection.
        """
        self._check_inputs(inputs)
        b, n = inputs.shape[:2]
        sampled = self._flat_sample(b, n, inputs.device)  # (B * n_s,)
        if sampled.numel() == 0:
            return sampled
        clips = inputs.flatten(0, 1)[sampled]  # (B * n_s, C, T, H, W)
        grads = None
        for start in range(0, clips.shape[0], self.chunk_size):
            out = self._encode_grad(clips[start:start + self.chunk_size])
            if grads is None:  # tokens per snippet known from the first output
                t = out.shape[-1] if self.keep_temporal else 1
                grads = self._from_output(feat_grad, b, n, t)[sampled]  # (B * n_s, C'[, t])
            if out.requires_grad:  # False only if every parameter is frozen
                out.backward(grads[start:start + self.chunk_size].to(out.dtype))
        return sampled

    # -- sampler state (a resumed run draws the same snippets) --------------------------------
    def get_extra_state(self) -> dict:
        return self.sampler.state_dict()

    def set_extra_state(self, state: dict) -> None:
        self.sampler.load_state_dict(state)
