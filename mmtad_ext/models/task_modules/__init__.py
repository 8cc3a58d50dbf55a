from .proposal_sampler import ProposalSampler, num_valid_proposals

__all__ = ['ProposalSampler', 'num_valid_proposals']
