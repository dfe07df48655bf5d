"""Episode videos: ffmpeg, probing, one frame per second (``frames``), and the video check
run before any job (``check``). Imports the core only."""
