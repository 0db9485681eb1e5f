"""How a pair's codes look on screen: seven emoji with their names, three numbers, the safety
number. One rendering, used on the peer card and in the side-by-side comparison, so what two
students read aloud looks the same wherever it is shown.

The short code appears only once its exchange is done (`ecc_widgets.sas`): "comparing..."
before, and a failed exchange says so instead of showing a code."""

from __future__ import annotations

from ecc_widgets import sas as short
from ecc_widgets.panels.common import LEVEL_COLOURS, MONO, escape

EMOJI_STYLE = "font-size:30px; line-height:1.1"
NAME_STYLE = "font-size:10px; color:#57606a"
NUMBERS_STYLE = ("font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size:16px; "
                 "letter-spacing:1px")


COMPARING_HTML = ('<div class="ecc-sas-comparing"><small>short code: comparing... (it '
                  "appears once both sides have committed to their part of it)</small></div>")
COMPARE_ALL = ("compare all of it: a relay in the middle gets one guess, and matches the "
               "first emoji alone once in 64 tries")


def sas_html(sas, status: str = "", problem: str = "") -> str:
    """The seven emoji large, each with its name small beneath, then the three numbers.

    `status` and `problem` are the peer record's `sas_status` and `sas_problem`: while the
    exchange runs the card says "comparing...", and a failed one says why, with no code.
    """
    if status == short.FAILED:
        return (f'<div class="ecc-sas-failed" style="color:{LEVEL_COLOURS["error"]}">'
                f"<b>no short code:</b> {escape(problem or 'the exchange failed', 300)}</div>")
    if sas is None and status == short.COMPARING:
        return COMPARING_HTML
    if sas is None and status == short.NONE:
        return ("<small>no short code: the seed's protocol takes no part in its exchange "
                "(a seed-protocol peer shows no code to compare with)</small>")
    if sas is None:
        return "<small>no codes yet: exchange keys first</small>"
    cells = "".join(
        '<span style="display:inline-block; text-align:center; margin:0 4px 2px 0; '
        f'min-width:52px"><span style="{EMOJI_STYLE}">{escape(symbol, 8)}</span><br>'
        f'<span style="{NAME_STYLE}">{escape(name, 20)}</span></span>'
        for symbol, name in sas.emoji)
    return (f'<div class="ecc-sas-emoji">{cells}</div>'
            f'<div class="ecc-sas-numbers" style="{NUMBERS_STYLE}">'
            f"{escape(sas.numbers_text, 20)}</div>"
            f'<div class="ecc-sas-all"><small>{escape(COMPARE_ALL)}</small></div>')


def safety_number_html(safety_number: str) -> str:
    return (f'safety number: <span style="{MONO}">{escape(safety_number, 200)}</span>'
            if safety_number else "")
