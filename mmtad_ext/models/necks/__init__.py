from .lstm_temporal_aggregation import LSTMTemporalAggregation

__all__ = ['LSTMTemporalAggregation']
