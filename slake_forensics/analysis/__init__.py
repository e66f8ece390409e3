"""Investigation helpers over any engine: normalization, entities, pivot, correlation, timelines, baselines, graphs and hunts."""
