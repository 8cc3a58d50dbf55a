from .base_sampler import BaseIndexSampler
from .proposal_sampler import ProposalSampler, num_valid_proposals
from .snippet_sampler import SnippetSampler

__all__ = ['BaseIndexSampler', 'ProposalSampler', 'num_valid_proposals', 'SnippetSampler']
