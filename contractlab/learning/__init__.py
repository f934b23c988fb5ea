"""Learning principals and agents in principal-agent MDPs (Ivanov et al., arXiv 2407.18074,
Section 5 and Appendix D), checked against the exact SPE of :mod:`contractlab.solvers.spe`.

- :mod:`.simulator`: many episodes of a principal-agent MDP stepped in lockstep (numpy).
- :mod:`.contracts`: min-pay contracts on a (learned) truncated ``Q̄`` with a nudging margin ``ξ``.
- :mod:`.checkpoint`: checkpoint files (``.npz`` + JSON metadata; never pickle).
"""
