// A banner when the page loses its server (both engines' pages include this). After the
// server restarts, or culls the page's kernel, the widgets still show their last state, which
// would otherwise look alive while nothing works.
(function () {
  // The page talks to its kernel over one websocket (Voila: /api/kernels/<id>/channels,
  // Solara: /jupyter/api/kernels/<id>). Watch it: closed means disconnected, until a
  // reconnection opens it again.
  var Native = window.WebSocket;
  var leaving = false;
  var TEXT = "Disconnected from the server: reload the page to rejoin.";
  window.addEventListener("beforeunload", function () { leaving = true; });
  function banner(show) {
    var el = document.getElementById("ecc-disconnected");
    if (!el && show && document.body) {
      el = document.createElement("div");
      el.id = "ecc-disconnected";
      el.setAttribute("role", "alert");
      el.textContent = TEXT;
      el.style.cssText = "position:fixed;top:0;left:0;right:0;z-index:10000;padding:10px;" +
        "background:#b00020;color:#fff;font:bold 16px sans-serif;text-align:center";
      document.body.appendChild(el);
    }
    if (el) { el.style.display = show ? "block" : "none"; }
  }
  function Watched(url, protocols) {
    var ws = protocols === undefined ? new Native(url) : new Native(url, protocols);
    if (/\/api\/kernels\/[^/?]+(\/channels)?(\?|$)/.test(String(url))) {
      ws.addEventListener("open", function () { banner(false); });
      ws.addEventListener("close", function () { if (!leaving) { banner(true); } });
    }
    return ws;
  }
  Watched.prototype = Native.prototype;
  ["CONNECTING", "OPEN", "CLOSING", "CLOSED"].forEach(function (k) { Watched[k] = Native[k]; });
  window.WebSocket = Watched;
})();
