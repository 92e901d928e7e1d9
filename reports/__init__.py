"""Statistical reports and the CI regression gate, recomputed from a run's raw store.

``load`` -> ``design`` (balanced-design check) -> ``analysis`` (paired effects, crossed bootstrap,
Wilcoxon + crossed t with Holm, speed ratios, FLOP ratios, rankings) -> ``tables``/``figures``/
``render``/``summary`` (the report folder); ``regress`` gates a run against a stored baseline.
Protocol: docs/statistics.md. This package never imports a method module.
"""
