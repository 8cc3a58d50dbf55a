from .proposal_sampler import ProposalSampler, num_valid_proposals
from .snippet_sampler import SnippetSampler

__all__ = ['ProposalSampler', 'num_valid_proposals', 'SnippetSampler']
