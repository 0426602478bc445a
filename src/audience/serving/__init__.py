"""The composition root of ``audience serve``: it opens the stores, builds the collector, and
hands resolution, the destinations and the pages each only what they use.

Nothing imports this package but the CLI: the features below it never import one another.
"""
