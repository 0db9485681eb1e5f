"""One small ipywidgets Box per panel, each linked to the headless session model.

Panels observe the model's traits and call its actions; they never do cryptography or
networking themselves, and never reach into another panel.
"""

from ecc_widgets.panels.chat import ChatPanel
from ecc_widgets.panels.curve import CurvePanel
from ecc_widgets.panels.join import JoinPanel
from ecc_widgets.panels.keys import KeysPanel
from ecc_widgets.panels.log import LogPanel
from ecc_widgets.panels.peers import PeersPanel
from ecc_widgets.panels.relay_view import RelayView

__all__ = ["ChatPanel", "CurvePanel", "JoinPanel", "KeysPanel", "LogPanel", "PeersPanel",
           "RelayView"]
