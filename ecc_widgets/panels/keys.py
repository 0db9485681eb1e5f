"""Keys: generate a real key pair, then watch how Q = d x G was computed, step by step.

The session generates the key (``session.generate_keys()``) and hands back the trace of
the very computation: the private value d, the doubles and adds of Q = d x G, and the same
walk on a toy curve small enough to draw. This panel only plays that data back. Playback
runs on a background thread that sets widget values and nothing else, so the kernel never
waits for it; "instant" shows the end at once.

The private value stays in this kernel until the student asks to see it ("Show my private
value"): until then no widget state holds d, nor what would give it away (its bits, the
multiples and points of the walk, a toy walk derived from it); the panel says where d is.
"""

from __future__ import annotations

import json
import math
import secrets
import threading
import time

import ipywidgets as widgets

from ecc_widgets import ecmath, plots
from ecc_widgets.curves import TOY_CURVES, get_curve
from ecc_widgets.panels.common import MONO, Panel, escape, grouped_hex, shorten
from ecc_widgets.session.keygen import toy_walk

# Seconds a whole playback takes at each speed; "instant" jumps to the end.
SPEEDS = {"slow": 20.0, "normal": 6.0, "fast": 2.0, "instant": 0.0}
FRAME_SECONDS = 0.05  # at most about 20 widget updates a second, however many steps

SECRET_STYLE = "background:#ffebe9; border:2px solid #cf222e; color:#1f2328"
PUBLIC_STYLE = "background:#dafbe1; border:2px solid #1a7f37; color:#1f2328"
REVEAL = "Show my private value"
# Where d is, said truthfully in each case.
KEPT = ("d stays in this kernel: it is not in this page and is sent nowhere. Press "
        f"<b>{REVEAL}</b> to bring it here.")
WAS_SHOWN = ("d was shown in this page (the kernel sent it to this browser); hidden again "
             "now: the page's widgets no longer hold it, but it did leave the kernel.")
SHOWN = ("shown: d is now in this page. The kernel sent it to this browser over the "
         "page's connection; anyone who can see your screen or that connection can read it.")


def point_text(point, keep: int = 12) -> str:
    x, y = (getattr(point, "x", None), getattr(point, "y", None)) if point is not None else (
        None, None)
    if x is None:
        return str(ecmath.INFINITY)
    if y is None:  # the Montgomery ladder works on u alone
        return f"(u = {shorten(x, keep)})"
    return f"({shorten(x, keep)}, {shorten(y, keep)})"


def bits_html(d: int, done: int, width: int = 0) -> str:
    """The bits of d, most significant first; the first ``done`` are used, the last of
    them (the bit just processed) highlighted."""
    bits = f"{d:0{width}b}"
    before = max(done - 1, 0)
    used, current, rest = bits[:before], bits[before:done], bits[done:]
    return (f'<div style="{MONO}; word-break:break-all">'
            f'<span style="color:#1a7f37; font-weight:bold">{used}</span>'
            f'<span style="background:#cf222e; color:#ffffff">{current}</span>'
            f'<span style="color:#8c959f">{rest}</span></div>')


def _toy_parts(toy):
    """(curve, steps) of the toy trace, whatever record holds it, or (None, ())."""
    if toy is None:
        return None, ()
    curve = getattr(toy, "curve", None)
    if isinstance(curve, str):
        curve = get_curve(curve)
    return curve, tuple(getattr(toy, "steps", ()) or ())


class KeysPanel(Panel):
    panel = "keys"
    topic = "keys"
    title = "Generate your keys"
    watched = ("keygen", "public_jwk", "fingerprint", "curve")

    def __init__(self, session, theme: str = "light", **kwargs):
        super().__init__(session, **kwargs)
        self.theme = theme
        html = self.shared.html
        self.generate = widgets.Button(description="Generate keys", button_style="primary",
                                       icon="key")
        self.speed = widgets.ToggleButtons(options=list(SPEEDS), value="normal",
                                           description="Speed",
                                           style={"button_width": "70px"})
        self.progress = widgets.IntProgress(value=0, min=0, max=1, description="Q = d x G",
                                            bar_style="info")
        self.step1, self.step2, self.bits, self.toy_note = html(), html(), html(), html()
        self.path_image = widgets.Image(format="png", layout=widgets.Layout(width="100%",
                                                                            max_width="420px"))
        self.secret, self.public = html(), html()
        self.reveal = widgets.ToggleButton(value=False, description=REVEAL, icon="eye",
                                           layout=widgets.Layout(width="auto", display="none"))
        self.generate.on_click(self._generate)
        self.reveal.observe(self._on_reveal, names="value")
        self.children = [
            self.header(),
            widgets.HBox([self.generate, self.speed],
                         layout=widgets.Layout(flex_flow="row wrap", align_items="center")),
            self.error, self.progress, self.step1, self.step2, self.bits, self.toy_note,
            self.path_image,
            self.secret, self.reveal, self.public,
        ]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._shown_trace = None
        self._shown_upto = 0         # operations of the shown trace on screen
        self._was_revealed = False   # d of the shown trace reached this page once
        self._stand_in = 0           # the toy walk's own random value while d is hidden
        self._generating = False
        self.toy_curve = ""          # the toy curve the student picked ("": the trace's own)
        self._toy_cache: tuple = ()  # (private value, toy curve, walk)
        self._render()

    @property
    def revealed(self) -> bool:
        """Whether the student asked to see the private value (it is then in the page)."""
        return bool(self.reveal.value)

    def _new_trace(self, trace) -> None:
        """A new key on screen: its d is hidden until asked for, and has never been shown."""
        self._shown_trace = None  # so that hiding the old d redraws nothing
        self._was_revealed = False
        self._stand_in = secrets.randbits(64) | 1
        with self._lock:
            self.reveal.value = False
            self.reveal.layout.display = None
        self._shown_trace = trace

    def _on_reveal(self, change) -> None:
        trace = self._shown_trace
        if change["new"]:
            self._was_revealed = True
        if trace is None:
            return
        if self.playing:  # the playback's next frame shows the walk (or hides it)
            with self._lock:
                self.step1.value = self._step1_html(trace)
            return
        if self.public.value:
            self._show_final(trace)
        else:
            self._show_start(trace, at=self._shown_upto)

    def use_toy_curve(self, name: str) -> None:
        """Walk on the toy curve the student chose in the curve panel (redrawn if shown)."""
        name = name if name in TOY_CURVES else ""
        if name == self.toy_curve:
            return
        self.toy_curve = name
        trace = self._shown_trace
        if trace is not None and not self.playing:
            self._draw_toy(trace, len(trace.steps))

    def _toy_trace(self, trace):
        """The toy walk to draw: on the chosen toy curve, else the one the trace carries;
        from d when d is shown, else from a random value of its own (the walk would give
        d' = (d mod (n - 1)) + 1 away)."""
        toy = getattr(trace, "toy", None)
        if toy is None:
            return None
        name = self.toy_curve or toy.curve
        if self.revealed and name == toy.curve:
            return toy
        value = trace.private_value if self.revealed else self._stand_in
        key = (value, name)
        if self._toy_cache[:2] != key:
            self._toy_cache = (*key, toy_walk(value, name))
        return self._toy_cache[2]

    # --- actions --------------------------------------------------------------------------

    def _generate(self, _button=None) -> None:
        self._generating = True  # the model's keygen change is played, not shown at once
        try:
            trace = self.act(self.session.generate_keys, what="Could not generate keys")
        finally:
            self._generating = False
        if trace is not None:
            self.play(trace)

    @property
    def playing(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        """Stop a playback in progress and wait for its thread."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def play(self, trace) -> None:
        self.stop()
        self._new_trace(trace)
        if SPEEDS[self.speed.value] == 0:
            self._show_final(trace)
            return
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._play, args=(trace, self._stop),
                                        name="ecc-keys-playback", daemon=True)
        self._thread.start()

    def _play(self, trace, stop: threading.Event) -> None:
        # Only widget values are set here: no display(), no Output context manager.
        total = len(trace.steps)
        duration = SPEEDS[self.speed.value]
        self._show_start(trace)
        # Paced by the clock, not by a fixed stride: when drawing a frame is slow, the next
        # frame skips ahead, so a playback takes its chosen time on any machine.
        start, shown = time.monotonic(), 0
        while shown < total:
            if stop.wait(FRAME_SECONDS):
                return
            due = int(total * (time.monotonic() - start) / duration)
            shown = min(total, max(shown + 1, due))
            self._show_step(trace, shown)
        if not stop.is_set():
            self._show_final(trace)

    # --- views ----------------------------------------------------------------------------

    def _step1_html(self, trace) -> str:
        d = trace.private_value
        curve = get_curve(trace.curve) if isinstance(trace.curve, str) else trace.curve
        why = (f"d is drawn uniformly from [1, n-1], n being the order of G on "
               f"{escape(curve.name)}: d = 0 would give the point at infinity, and "
               "n x G = O, so d and d + n would be the same key. Every d in that range "
               "gives a different public key, and finding d from Q is the discrete "
               "logarithm problem.")
        if curve.form == "montgomery":
            why = ("X25519 draws 32 random bytes and clamps them: the low 3 bits are "
                   "cleared (a multiple of the cofactor 8, so small-subgroup points give "
                   "nothing away) and bit 254 is set (every key takes the same number of "
                   "ladder steps). Finding d from Q is the discrete logarithm problem.")
        shown = (f'<span style="{MONO}">d = {escape(shorten(hex(d), 20))}</span>'
                 if self.revealed else f"<i>{KEPT}</i>")
        return (f"<b>Step 1: a random private value d</b> ({d.bit_length()} bits)<br>"
                f"{shown}<br><small>{why}</small>")

    def _show_start(self, trace, at: int = 0) -> None:
        with self._lock:
            self.progress.max = max(len(trace.steps), 1)
            self.progress.bar_style = "info"
            self.step1.value = self._step1_html(trace)
            self.secret.value = ""
            self.public.value = ""
            self._show_step(trace, at)

    def _show_step(self, trace, upto: int) -> None:
        if not self.revealed:
            self._show_step_hidden(trace, upto)
            return
        steps = trace.steps[:upto]
        doubles = sum(1 for s in steps if s.op == "double")
        adds = sum(1 for s in steps if s.op == "add")
        ladder = sum(1 for s in steps if s.op == "ladder")
        last = steps[-1] if steps else None
        counts = f"{doubles} doubles, {adds} adds" + (f", {ladder} ladder steps" if ladder else "")
        with self._lock:
            self._shown_upto = upto
            self.progress.value = upto
            self.step2.value = (
                f"<b>Step 2: Q = d x G</b>, one bit of d at a time: double, and add G where "
                f"the bit is 1.<br>{upto} of {len(trace.steps)} operations ({counts})<br>"
                + (f'current point <span style="{MONO}">{escape(shorten(last.multiple, 10))} x G'
                   f" = {escape(point_text(last.point))}</span>" if last else "current point: O"))
            # Step.index is the position of the bit just used (0 = least significant).
            scalar = trace.scalar
            width = max(scalar.bit_length(), trace.steps[0].index + 1 if trace.steps else 0)
            done = width - last.index if last else 0
            self.bits.value = bits_html(scalar, done, width)
            self._draw_toy(trace, upto)

    def _show_step_hidden(self, trace, upto: int) -> None:
        """The walk without d: how far it is, never which steps were adds (nor the bits,
        multiples or points, any of which gives d away)."""
        with self._lock:
            self._shown_upto = upto
            self.progress.value = upto
            self.step2.value = (
                f"<b>Step 2: Q = d x G</b>, one bit of d at a time: double, and add G where "
                f"the bit is 1.<br>{upto} of {len(trace.steps)} operations. Which of them "
                "were adds, the bits of d and the points on the way would each give d away: "
                f"they are shown with d ({REVEAL}). The total tells how many bits of d are "
                "1, no more.")
            self.bits.value = ""
            self._draw_toy(trace, upto)

    def _draw_toy(self, trace, upto: int) -> None:
        toy = self._toy_trace(trace)
        curve, steps = _toy_parts(toy)
        if curve is None or not steps or curve.p > plots.MAX_FIELD_PRIME:
            self.path_image.layout.display = "none"
            self.toy_note.value = ""
            return
        # The toy walk advances in proportion to the real one.
        shown = math.ceil(len(steps) * upto / max(len(trace.steps), 1))
        path = tuple(s.point for s in steps[:shown])
        if self.revealed:
            whose = (f"Its private value is d' = {toy.private_value} = (d mod (n - 1)) + 1, "
                     f"n = {curve.n} being the order of G there: that maps d into [1, n - 1], "
                     "the private values of the toy curve, so d' follows from d but has fewer "
                     "bits")
        else:
            whose = (f"Its private value d' = {toy.private_value} is drawn at random for this "
                     f"picture, not from your d (d' = (d mod (n - 1)) + 1, n = {curve.n}, "
                     f"would give part of d away): {REVEAL} walks with yours")
        self.toy_note.value = (
            f"<small>The points of {escape(trace.curve)} cannot be drawn, so here is the same "
            f"double-and-add on {escape(curve.name)}, each point drawn as it is computed. "
            f"{whose}; every step is the same double, and add where the bit is 1. Pick "
            "another toy curve in the curve panel to walk on it.</small>")
        self.path_image.layout.display = None
        self.path_image.value = plots.path_png(curve, path, self.theme)

    def _show_final(self, trace) -> None:
        self._show_start(trace, at=len(trace.steps))
        s = self.session
        jwk = json.dumps(s.public_jwk, indent=1) if s.public_jwk else "{}"
        if self.revealed:
            where = (f"({SHOWN})<br>"
                     f'<span style="{MONO}; overflow-wrap:anywhere">d = 0x'
                     f"{grouped_hex(format(trace.private_value, 'x'), 8, '<wbr>')}</span>")
        else:
            where = f"<br><small>{WAS_SHOWN if self._was_revealed else KEPT}</small>"
        with self._lock:
            self.progress.bar_style = "success"
            self.secret.value = (
                f'<div style="{SECRET_STYLE}; padding:6px; border-radius:6px">'
                f"<b>Secret: your private key</b> {where}</div>")
            self.public.value = (
                f'<div style="{PUBLIC_STYLE}; padding:6px; border-radius:6px">'
                f"<b>Shareable: your public key</b> Q = d x G<br>"
                f'<span style="{MONO}; overflow-wrap:anywhere">hex: '
                f"{grouped_hex(trace.public_hex, 8, '<wbr>')}</span><br>"
                f'<pre style="{MONO}; white-space:pre-wrap; overflow-wrap:anywhere; '
                f'margin:2px 0">{escape(jwk)}</pre>'
                f'fingerprint: <span style="{MONO}">{escape(s.fingerprint)}</span></div>')

    def _clear(self) -> None:
        with self._lock:
            self.progress.value = 0
            self.progress.bar_style = "info"
            self.step1.value = ("<small>Press <b>Generate keys</b>: a real key pair is made on "
                                f"{escape(self.session.curve)} and its computation replayed "
                                "here.</small>")
            for box in (self.step2, self.bits, self.toy_note, self.secret, self.public):
                box.value = ""
            self.path_image.layout.display = "none"
            self.reveal.value = False
            self.reveal.layout.display = "none"

    def _render(self) -> None:
        if self._generating:
            return  # the button plays the new trace itself
        trace = self.session.keygen
        if trace is None:
            # No keys (none yet, or dropped for a new curve): show none, so that the keys
            # on screen are always the keys in use.
            self.stop()
            self._shown_trace = None
            self._shown_upto = 0
            self._clear()
        elif trace is not self._shown_trace:
            # Keys generated elsewhere (a notebook cell calling the model): shown at once.
            self.stop()
            self._new_trace(trace)
            self._show_final(trace)
        elif not self.playing and self.secret.value:
            self._show_final(trace)  # the JWK or fingerprint arrived after the trace
