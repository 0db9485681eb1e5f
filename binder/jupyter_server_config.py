# Jupyter server settings for the dashboard on Binder (postBuild copies this file to
# ~/.jupyter/): the same as `ecc-lab` uses (ecc_widgets/serving.py explains each one).
# A closed or reloaded Voila tab shuts its kernel down, kernels no page is connected to are
# culled after five minutes, and the page says when it has lost the server. A kernel
# websocket's binary frames are checked before they are parsed (a frame that lies about its
# parts closes the socket), and Voila's own handler is not given the legacy framing it
# misreads (docs/upstream-voila-binary-framing.md).
# Any other Jupyter deployment serving the dashboard can use these two lines.
from ecc_widgets.serving import configure

configure(c)  # noqa: F821 - `c` is the config object Jupyter gives this file
