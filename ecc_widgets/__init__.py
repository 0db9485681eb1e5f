"""ECC Chat Lab: elliptic-curve cryptography you can watch, in Jupyter.

Layers, imports in one direction:
``curves`` -> ``ecmath`` (educational maths) and ``crypto`` (real recipes over
``cryptography``) -> ``protocol`` (wire format) -> ``client``/``session`` (headless model)
-> ``plots`` and the widget panels -> ``app``.  Importing this package imports none of
them, so the relay can use ``ecc_widgets.protocol`` without pulling in widgets.
"""

__version__ = "0.1.0"
