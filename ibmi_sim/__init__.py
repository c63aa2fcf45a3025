"""Simulated IBM i PRIMARY/BACKUP pair (Rocket iCluster resync) for demos, tests and benchmarks.

The product (``dags/``, ``plugins/``, ``include/``) never imports this package, and this package
never imports the product: it has its own CL parser so that it catches mistakes in the product's
command builders instead of sharing them (issue 3, item 1).
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
