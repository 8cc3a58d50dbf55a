from .actionformer_projection import ActionFormerProjection
from .fpn_identity import FPNIdentity
from .lstm_temporal_aggregation import LSTMTemporalAggregation

__all__ = ['ActionFormerProjection', 'FPNIdentity', 'LSTMTemporalAggregation']
