"""The Keras models: builders (``builders``), the one face preprocessing (``preprocess``),
training and prediction of one run (``train``), augmentation (``augment``), the FER2013
zero-shot model (``fer``) and predictions.csv (``predictions``, read by the evaluation). The only layer below the top that imports TensorFlow; imports text,
dataset and the core."""
