"""dramaemo: facial emotion of TV-drama characters from a face crop and a description.

Reproduces Lee, Kim & Cheong, "A Multi-modal Approach for Emotion Recognition of TV
Drama Characters Using Image and Text", as a Snakemake pipeline whose steps are the
functions of this package (each also reachable through the ``dramaemo`` CLI).
"""

__version__ = "0.1.0"

# The paper's 7 classes, in the order every model's softmax uses.
EMOTIONS = ("Angry", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise")

# How a dataset can be split into train and test (dramaemo.dataset.split); "random" is the
# paper's per-second split, which leaks near-duplicate seconds into the test part.
SPLIT_STRATEGIES = ("scene", "episode", "random", "stratified")
RANDOM_SPLIT = "random"
