"""From a story to a rough cut (README "From a story to a rough cut").

A story file is read and each scene's needs worked out (``story.py``: faces, characters,
the emotions wanted and excluded), footage is chosen from the index's segments
(``choose.py``) and written as a rough cut, timelines an editor opens and a storyboard
page (``export.py``); ``author.py`` is the command that runs them in order.
"""
