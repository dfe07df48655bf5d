"""The light core: what every stage and the Snakefile share, and nothing heavy.

Owns the configuration's schema, defaults and checks (``config``), the model and text
encoder registry (``registry``), the per-rule options (``options``), a run's identity
(``runs``), episode ids (``episodes``), every results path (``paths``), where subtitles are
(``subtitle_files``), the ablation's variants as config (``ablation``), the user's errors
(``errors``) and the PyPI wheel fetching (``wheels``). Imports the standard library and
PyYAML only: the Snakefile imports it while parsing, so no NumPy, pandas, scikit-learn or
TensorFlow (import-linter contract in pyproject.toml).
"""
