"""contractlab: exact contracts, incentive design and numerically verified theorems."""
