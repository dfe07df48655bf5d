"""From predictions to conclusions: metrics and paired scene-bootstrap comparisons
(``evaluate``), late fusion (``fusion``), the F1 tables (``f1tables``), the report's
plots (``plots``) and the ablation table (``ablation``). Reads the files the models layer
writes; imports no TensorFlow (import-linter contract)."""
