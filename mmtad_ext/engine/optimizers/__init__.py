from .summary_optim_wrapper_constructor import SummaryOptimWrapperConstructor

__all__ = ['SummaryOptimWrapperConstructor']
