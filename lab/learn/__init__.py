"""The Learn tab's material: the source article's code next to what it really does and the TRL code the lab runs.

``lab.learn.source_code`` holds the article's two tf.js snippets, their runnable Keras ports (``port_rlhf``,
``port_rft``) with the fixes they needed, and the lab's own TRL trainer code read from ``lab/methods``. Importing
this package imports no torch or keras: the ports run in a subprocess.
"""
