"""The labelled dataset: annotation CSVs joined with the crops (``annotations``), the
crops packed for training (``packing``), the crop manifests' reader (``manifests``), train/test splits (``split``), the embedded
demo's input (``demo``) and the CSV reader every later stage uses (``tables``).
Imports faces, video and the core; no TensorFlow."""
