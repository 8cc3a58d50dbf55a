"""The two-phase encoder-gradient-sampling training step shared by the TAD detectors.

*ETAD: A Unified Framework for Efficient Temporal Action Detection* (arXiv 2205.07134), sec. 3.3,
as in the public ETAD code. A detector mixes this in before ``BaseModel`` and provides
``loss_from_features(feats, data_samples) -> dict`` (its loss from snippet features (B, C, T))
and ``check_snippet_features(feats)`` (raises on a wrong shape).
"""
from typing import Union

from mmengine.model import BaseModel


class EGSTrainStepMixin:
    """``train_step`` with the two-phase EGS protocol when the backbone asks for it."""

    def train_step(self, data: Union[dict, tuple, list], optim_wrapper) -> dict:
        """One iteration; two-phase encoder gradient sampling when the backbone asks for it.

        Without a backbone, or when ``backbone.two_phase`` is False (joint EGS, frozen encoder,
        features), this is ``BaseModel.train_step``. Otherwise (``EGSBackboneWrapper`` with
        ``mode='two_phase'``) the backbone interface ``two_phase`` / ``extract_no_grad`` /
        ``backward_sampled`` is used:

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
            return BaseModel.train_step(self, data, optim_wrapper)
        with optim_wrapper.optim_context(self):
            data = self.data_preprocessor(data, True)
            inputs, data_samples = data['inputs'], data['data_samples']
            feats = self.backbone.extract_no_grad(inputs).detach().requires_grad_()  # (B, C, T)
            self.check_snippet_features(feats)
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
