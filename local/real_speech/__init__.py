"""Real recorded speech assembled from Debian packages (an out-of-domain evaluation set).

Modules: ``packages`` (``apt-get download`` into a cache, ``dpkg-deb -x``), ``uqm`` (the voice
actors of The Ur-Quan Masters, cut into subtitle-page segments), ``prepare``
(``prepare_real_speech`` and the command line: wavs, a Kaldi data dir, trial lists).
"""
