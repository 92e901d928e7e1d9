"""SynthRooms: procedurally rendered Manhattan-world rooms with exact labels for every task.

The default benchmark suite: it needs no download, renders in numpy, and every
environment (= domain) has its own style drawn from its seed. The package is
kept import-light (numpy only) so that generator worker processes start fast;
the ``Suite`` (torch) lives in ``domains.synthrooms.suite``.
"""

GENERATOR_VERSION = 1
"""Bump whenever a change alters any rendered byte: it keys the on-disk cache."""
