"""What a page remembers across a reload: the student's name, room, relay and curve.

A reloaded tab is a new page (a new kernel, or virtual kernel, with a new session), so
without this the student would find empty boxes and their partner a stale key. The browser
keeps the few fields below in the tab's `sessionStorage` (one tab, kept across reloads,
gone with the tab) and the name and room in `localStorage` too (a new tab on the same
machine finds them filled in, but does not join by itself). Never a key: the private key
never leaves the kernel, and a rejoined page makes a new one.

`restored` is what the browser had when the page opened, set once; `remember` is what it
should keep (an empty dict forgets it, as after Leave). Both are plain dicts of short
strings and a flag, checked here like anything else from the browser.
"""

from __future__ import annotations

import anywidget
import traitlets

FIELDS = ("name", "room", "relay", "curve")
MAX_FIELD = 200  # characters: a name, a room, a relay address

# sessionStorage is per tab: two tabs on one machine (alice and bob) each keep their own.
ESM = """
const KEY = "ecc-chat-lab";
function read(storage) {
  try {
    const v = JSON.parse(storage.getItem(KEY) || "null");
    return v && typeof v === "object" ? v : null;
  } catch (e) { return null; }
}
function write(storage, value) {
  try { if (value) storage.setItem(KEY, JSON.stringify(value)); else storage.removeItem(KEY); }
  catch (e) { /* storage disabled (private mode): the page simply does not remember */ }
}
export default {
  render({ model, el }) {
    el.style.display = "none";
    if (!model.get("restored").loaded) {
      const tab = read(sessionStorage);
      const machine = read(localStorage);
      const found = tab || machine || {};
      model.set("restored", { ...found, rejoin: Boolean(tab && tab.rejoin), loaded: true });
      model.save_changes();
    }
    const keep = () => {
      const value = model.get("remember");
      const known = value && value.name ? value : null;
      write(sessionStorage, known);
      if (known) write(localStorage, { name: known.name, room: known.room });
    };
    model.on("change:remember", keep);
    return () => model.off("change:remember", keep);
  },
};
"""


def clean(found: object) -> dict:
    """The fields of `found` (from the browser) that are short strings; `rejoin` a bool."""
    if not isinstance(found, dict):
        return {}
    fields = {k: found[k] for k in FIELDS
              if isinstance(found.get(k), str) and 0 < len(found[k]) <= MAX_FIELD}
    return {**fields, "rejoin": found.get("rejoin") is True}


class PageMemory(anywidget.AnyWidget):
    """An invisible widget holding what the tab remembers (see the module's notes)."""

    _esm = traitlets.Unicode(ESM).tag(sync=True)
    restored = traitlets.Dict().tag(sync=True)
    remember = traitlets.Dict().tag(sync=True)
