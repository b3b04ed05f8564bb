"""The study: reproducing its table (`reproduce`), its baselines (`baselines`: a
deep ensemble and a Laplace approximation), reports (`report`) and figures (`plot`, with the
`plot` extra). `planted` holds posteriors with known modes for tests and benchmarks."""

from .baselines import deep_ensemble as deep_ensemble
from .baselines import laplace as laplace
from .report import summary_table as summary_table
from .report import write_report as write_report
