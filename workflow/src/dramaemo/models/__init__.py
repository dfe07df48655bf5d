"""The Keras models: builders and the one face preprocessing (``builders``), training and
prediction of one run (``train``), augmentation (``augment``) and the FER2013 zero-shot
model (``fer``). The only layer below the top that imports TensorFlow; imports text,
dataset and the core."""
