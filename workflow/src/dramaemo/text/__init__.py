"""Text encoders' cached inputs: GloVe token ids (``glove``), ELMo layers (``elmo``),
MiniLM sentence vectors (``minilm``), TF-IDF rows (``tfidf``; ``vectors``: the cache of
the last two), each written once per unique description by its own rule. Imports the dataset layer and the core."""
