"""The NIST SP 800-61 stage workflows, one module per concern.

``readiness`` (preparation); ``triage`` and ``investigation`` (detection and analysis; ``incident``
re-exports both for the notebooks); ``containment``; ``metrics`` and ``rendering`` (post-incident:
the figures, then their text and the report; ``report`` re-exports both); ``training``; ``validate``
(lake validation).  Their rule tables are YAML files in ``data/``, read and checked by ``_data``.
"""
