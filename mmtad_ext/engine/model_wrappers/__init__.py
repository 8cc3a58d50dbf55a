from .delegating_distributed_data_parallel import DelegatingDistributedDataParallel

__all__ = ['DelegatingDistributedDataParallel']
