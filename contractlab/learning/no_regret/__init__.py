"""No-regret learners, the adversaries they face, and a runner that records their regret for
many seeds at once (numpy, vectorised over the seeds and, where the algorithm allows, over time).

Learners (one interface, :class:`~.base.Learner`; one algorithm per module):

- :class:`~.hedge.Hedge`: exponential weights, full information (Cesa-Bianchi & Lugosi 2006, Thm 2.2).
- :class:`~.exp3.Exp3`: EXP3, bandit (Lattimore & Szepesvári 2020, Algorithm 9, Thm 11.2).
- :class:`~.ucb1.UCB1`: UCB1, stochastic bandit (Auer, Cesa-Bianchi & Fischer 2002).
- :class:`~.regret_matching.RegretMatching`, :class:`~.regret_matching.RegretMatchingPlus`: RM
  (Hart & Mas-Colell 2000) and RM+ (Tammelin 2014), full information.
- :class:`~.ftl.FollowTheLeader`: follow-the-leader, the negative control (linear regret on
  :class:`~.adversaries.FTLTrap`).

Adversaries (:class:`~.base.Adversary`, module :mod:`.adversaries`, with hypothesis strategies):
oblivious :class:`IIDUniform`, :class:`Bernoulli`, :class:`FixedSequence`, :class:`Alternating`,
:class:`Switching`, :class:`FTLTrap`; adaptive :class:`PunishMostWeighted`, :class:`PunishLastAction`.

:func:`~.run.run` plays a learner against an adversary for a list of seeds and returns a
:class:`~.run.RegretRun` (regret per seed at the requested horizons; definitions in :mod:`.run`)::

    from contractlab.learning.no_regret import Hedge, IIDUniform, run
    result = run(Hedge(10), IIDUniform(10), horizon=10**6, seeds=range(100), record=[10**3, 10**6])
    result.regret[:, -1]          # each seed's regret of the mixed strategies after 10^6 rounds
"""

from .adversaries import (Alternating, Bernoulli, FixedSequence, FTLTrap, IIDUniform, PunishLastAction,
                          PunishMostWeighted, Switching, adaptive_adversaries, adversaries, oblivious_adversaries,
                          stochastic_adversaries)
from .base import Adversary, Learner
from .exp3 import Exp3
from .ftl import FollowTheLeader
from .hedge import Hedge
from .regret_matching import RegretMatching, RegretMatchingPlus
from .run import RegretRun, run
from .self_play import SelfPlayRun, self_play
from .ucb1 import UCB1

#: Every learner class, by the name the benchmark prints.
LEARNERS = {"hedge": Hedge, "exp3": Exp3, "ucb1": UCB1, "rm": RegretMatching, "rm+": RegretMatchingPlus,
            "ftl": FollowTheLeader}

__all__ = ["Learner", "Adversary", "Hedge", "Exp3", "UCB1", "RegretMatching", "RegretMatchingPlus",
           "FollowTheLeader", "IIDUniform", "Bernoulli", "FixedSequence", "Alternating", "Switching", "FTLTrap",
           "PunishMostWeighted", "PunishLastAction", "oblivious_adversaries", "stochastic_adversaries",
           "adaptive_adversaries", "adversaries", "run", "RegretRun", "self_play", "SelfPlayRun", "LEARNERS"]
