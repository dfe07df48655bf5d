"""Faces in the frames: BlazeFace or the paper's Haar cascade (``detection``,
``blazeface``), and the crops with their manifests. Imports the video layer and the core."""
