from .summary_optim_wrapper_constructor import SummaryOptimWrapperConstructor
from .trainable import build_trainable_optim_wrapper

__all__ = ['SummaryOptimWrapperConstructor', 'build_trainable_optim_wrapper']
