"""Constants of the normal and half-normal log densities, shared by the model's log density
(both of its batched forms) and the posterior predictive."""

import math

#: `log √(2π)`: the normal density's normalising term.
HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
#: `log √(2/π)`: the half-normal(1) density's normalising term (the prior of σ).
LOG_HALFNORMAL_CONST = 0.5 * math.log(2.0 / math.pi)
