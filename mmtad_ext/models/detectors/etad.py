"""ETAD: efficient temporal action detector with detector proposal sampling (paper 001)."""
from typing import Optional, Union

import torch
from mmengine.model import BaseModel
from mmengine.structures import InstanceData

from mmtad_ext.registry import MODELS, TASK_UTILS


@MODELS.register_module()
class ETAD(BaseModel):
    """ETAD detector: [backbone] -> LSTM neck -> boundary head + DPS + cascade proposal head.

    Inputs are snippet features (B, C, T) or, with a ``backbone`` (e.g. ``EGSBackboneWrapper``),
    raw snippets that the backbone turns into (B, C, T) features. Training samples a subset of
    the proposal map with ``proposal_sampler`` (DPS); testing evaluates every valid proposal that
    survives BMN's boundary selection and scores it ``p_s * p_e * p_iou`` (sec. 4.2).

    Predictions are class-agnostic segments in seconds with scores; with a ``cls_head`` the
    sample also carries ``pred_class_scores`` (video-level sigmoid scores). Soft-NMS, merging of
    sliding windows and class fusion happen in ``TADMetric``.

    The loss is eq. (1): snippet startness/endness (``boundary_head``) plus, per cascade stage,
    proposal boundary CE, IoU classification/regression and offset smooth-L1, plus the optional
    video-level classification loss.

    Args:
        neck (dict): Feature enhancement module (``LSTMTemporalAggregation``).
        boundary_head (dict): Boundary evaluation module (``ETADBoundaryHead``).
        proposal_head (dict): Cascade proposal evaluation (``ETADCascadeHead``).
        proposal_sampler (dict): ``ProposalSampler`` (TASK_UTILS); its ``temporal_dim`` must equal
            the number of snippets of the inputs.
        cls_head (dict, optional): Video-level classification head. Defaults to None.
        backbone (dict, optional): Snippet encoder for raw-video input. Defaults to None.
        data_preprocessor (dict, optional): Defaults to ``TADDataPreprocessor``.
        test_cfg (dict, optional): ``max_proposals`` kept per sample before NMS (default 1000),
            ``boundary_threshold`` of the boundary selection relative to the maximum (0.5).
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 neck: dict,
                 boundary_head: dict,
                 proposal_head: dict,
                 proposal_sampler: dict,
                 cls_head: Optional[dict] = None,
                 backbone: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        if data_preprocessor is None:
            data_preprocessor = dict(type='TADDataPreprocessor')
        if isinstance(data_preprocessor, dict):  # resolve in our scope, not mmengine's root
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone) if backbone is not None else None
        self.neck = MODELS.build(neck)
        self.boundary_head = MODELS.build(boundary_head)
        self.proposal_head = MODELS.build(proposal_head)
        self.cls_head = MODELS.build(cls_head) if cls_head is not None else None
        self.proposal_sampler = TASK_UTILS.build(proposal_sampler)
        self.temporal_dim = self.proposal_sampler.temporal_dim
        self.test_cfg = dict(max_proposals=1000, boundary_threshold=0.5)
        self.test_cfg.update(test_cfg or {})

    # -- features ---------------------------------------------------------------------------
    def extract_snippet_features(self, inputs: torch.Tensor) -> torch.Tensor:
        """Snippet features (B, C, T): the backbone's output, or the inputs themselves."""
        feats = self.backbone(inputs) if self.backbone is not None else inputs
        if feats.dim() != 3 or feats.shape[-1] != self.temporal_dim:
            raise ValueError(
                f'ETAD expects snippet features of shape (B, C, {self.temporal_dim}) '
                f'(proposal_sampler.temporal_dim), got {tuple(feats.shape)}; set the dataset\'s '
                'temporal_dim / window_size to the sampler\'s temporal_dim')
        return feats

    def forward(self,
                inputs: torch.Tensor,
                data_samples: Optional[list] = None,
                mode: str = 'tensor') -> Union[dict, list, tuple]:
        """mmengine's entry: ``mode`` is ``'loss'``, ``'predict'`` or ``'tensor'``."""
        if mode == 'loss':
            return self.loss_from_features(self.extract_snippet_features(inputs), data_samples)
        if mode == 'predict':
            return self.predict_from_features(self.extract_snippet_features(inputs),
                                              data_samples)
        if mode == 'tensor':
            feats = self.neck(self.extract_snippet_features(inputs))
            return self.boundary_head(feats), feats
        raise ValueError(f'Invalid mode {mode!r}: use "loss", "predict" or "tensor"')

    # -- training ---------------------------------------------------------------------------
    def loss_from_features(self, snippet_feats: torch.Tensor, data_samples: list) -> dict:
        """Loss of eq. (1) from snippet features (B, C, T).

        This is the detector half of the interface used by encoder gradient sampling: the
        two-phase EGS step calls it with detached features that require grad.
        """
        gt_segments = [ds.gt_instances.segments for ds in data_samples]
        feats = self.neck(snippet_feats)  # (B, C, T)
        losses = self.boundary_head.loss(self.boundary_head(feats), gt_segments)
        proposals = torch.stack([
            self._normalise(self.proposal_sampler.sample(training=True))
            for _ in range(feats.shape[0])
        ]).to(feats)  # (B, P, 2)
        losses.update(self.proposal_head.loss(self.proposal_head(feats, proposals), gt_segments))
        if self.cls_head is not None:
            losses.update(self.cls_head.loss(self.cls_head(feats),
                                             [ds.gt_instances.labels for ds in data_samples]))
        return losses

    def _normalise(self, pairs: torch.Tensor) -> torch.Tensor:
        """Inclusive snippet index pairs (N, 2) -> normalised segments [s/T, (e+1)/T]."""
        return torch.stack([pairs[:, 0], pairs[:, 1] + 1], dim=1).float() / self.temporal_dim

    def train_step(self, data: Union[dict, tuple, list], optim_wrapper) -> dict:
        """One iteration; two-phase encoder gradient sampling when the backbone asks for it.

        Without a backbone, or when ``backbone.two_phase`` is False (joint EGS, frozen encoder,
        features), this is ``BaseModel.train_step``. Otherwise (``EGSBackboneWrapper`` with
        ``mode='two_phase'``; paper 001 sec. 3.3, as in the public ETAD code) the backbone
        interface ``two_phase`` / ``extract_no_grad`` / ``backward_sampled`` is used:

        1. ``feats = backbone.extract_no_grad(inputs)`` (every snippet, no graph), made a leaf
           that requires grad;
        2. ``loss_from_features(feats)`` and the detector's backward through
           ``optim_wrapper.backward`` (loss scaled for gradient accumulation / AMP), which
           leaves d loss / d feats in ``feats.grad``;
        3. ``backbone.backward_sampled(inputs, feats.grad)`` re-encodes the sampled snippets
           with gradient and back-propagates that gradient; parameter gradients accumulate;
        4. ``optim_wrapper.step()`` and ``zero_grad()`` once, when ``should_update()``
           (as ``OptimWrapper.update_params`` does).

        Under a DDP wrapper mmengine does not call this method; use ``mode='joint'`` there.
        """
        if not getattr(self.backbone, 'two_phase', False):
            return super().train_step(data, optim_wrapper)
        with optim_wrapper.optim_context(self):
            data = self.data_preprocessor(data, True)
            inputs, data_samples = data['inputs'], data['data_samples']
            feats = self.backbone.extract_no_grad(inputs).detach().requires_grad_()  # (B, C, T)
            if feats.shape[-1] != self.temporal_dim:
                raise ValueError(f'ETAD expects {self.temporal_dim} snippets (proposal_sampler.'
                                 f'temporal_dim), the backbone gave {tuple(feats.shape)}')
            losses = self.loss_from_features(feats, data_samples)
        parsed_losses, log_vars = self.parse_losses(losses)
        optim_wrapper.backward(optim_wrapper.scale_loss(parsed_losses))
        if feats.grad is not None:
            with optim_wrapper.optim_context(self):  # autocast for the re-forward under AMP
                self.backbone.backward_sampled(inputs, feats.grad)
        if optim_wrapper.should_update():
            optim_wrapper.step()
            optim_wrapper.zero_grad()
        return log_vars

    # -- inference --------------------------------------------------------------------------
    def _select_boundaries(self, probs: torch.Tensor) -> torch.Tensor:
        """BMN's boundary selection: local peaks or above ``threshold * max``. (T,) -> bool."""
        thr = self.test_cfg['boundary_threshold'] * probs.max()
        peak = torch.zeros_like(probs, dtype=torch.bool)
        peak[1:-1] = (probs[1:-1] > probs[:-2]) & (probs[1:-1] > probs[2:])
        return peak | (probs > thr)

    @torch.no_grad()
    def predict_from_features(self, snippet_feats: torch.Tensor, data_samples: list) -> list:
        """Class-agnostic detections for every sample, in seconds (see class docstring)."""
        feats = self.neck(snippet_feats)
        probs = self.boundary_head(feats)  # (B, 2, T)
        cls_scores = self.cls_head(feats).sigmoid() if self.cls_head is not None else None
        pairs = self.proposal_sampler.sample(training=False).to(feats.device)  # (N, 2)
        for i, ds in enumerate(data_samples):
            keep = (self._select_boundaries(probs[i, 0])[pairs[:, 0]] &
                    self._select_boundaries(probs[i, 1])[pairs[:, 1]])
            sel = pairs[keep]
            if sel.shape[0] == 0:  # degenerate boundary maps: fall back to every proposal
                sel = pairs
            outs = self.proposal_head(feats[i:i + 1], self._normalise(sel)[None].to(feats))
            last = outs[-1]
            iou = last['iou_logits'][0].sigmoid()  # (P, 2)
            score = probs[i, 0, sel[:, 0]] * probs[i, 1, sel[:, 1]] * iou[:, 0] * iou[:, 1]
            seg = last['refined'][0]  # (P, 2) normalised
            order = score.argsort(descending=True)[:self.test_cfg['max_proposals']]
            meta = ds.metainfo
            offset = float(meta.get('window_start', 0.0))
            span = float(meta['window_duration'])
            pred = InstanceData()
            pred.segments = (seg[order] * span + offset).cpu()
            pred.scores = score[order].cpu()
            ds.pred_instances = pred
            if cls_scores is not None:
                ds.pred_class_scores = cls_scores[i].cpu()
        return data_samples

    # -- sampler state (resume draws the same proposals) ------------------------------------
    # The generator state is a uint8 tensor, so it travels in the state_dict (and survives
    # mmengine's broadcast of the state_dict in distributed runs).
    def get_extra_state(self) -> torch.Tensor:
        return self.proposal_sampler.generator.get_state()

    def set_extra_state(self, state: torch.Tensor) -> None:
        self.proposal_sampler.generator.set_state(state.cpu())
