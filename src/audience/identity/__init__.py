"""The pure identity core: identifiers, the rules of the identity graph, profiles and journeys.

Nothing here does I/O, starts threads or reads the clock: resolution applies these rules to
its stores, and the pages and the CLI draw what they produce.
"""
