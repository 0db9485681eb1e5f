// The teacher's console: polls /teacher/api/rooms every second and draws one row per
// student. Every string from the relay goes into the page with textContent, never as HTML.
"use strict";

const token = new URLSearchParams(location.hash.slice(1)).get("token") || "";
if (token) history.replaceState(null, "", location.pathname);   // out of the address bar
const statusLine = document.getElementById("status");
const roomsBox = document.getElementById("rooms");
const debriefBox = document.getElementById("debrief");
const debriefToggle = document.getElementById("debrief-toggle");
const logBox = document.getElementById("log");
const drafts = new Map();   // room -> what the teacher is typing (kept across redraws)
let attackMode = false;

function api(path, body) {
  const init = {headers: {"Authorization": "Bearer " + token}, cache: "no-store"};
  if (body !== undefined) {
    init.method = "POST";
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  return fetch("/teacher/api/" + path, init).then((resp) => {
    if (resp.status === 401) throw new Error("access refused: open this page with the " +
                                             "address the relay printed (…/teacher#token=…)");
    if (resp.status === 429) throw new Error("too many wrong tokens: wait a few seconds");
    if (!resp.ok) return resp.text().then((t) => { throw new Error(t || String(resp.status)); });
    return resp.json();
  });
}

function say(text, isError) {
  statusLine.textContent = text;
  statusLine.className = isError ? "error" : "";
}

function el(tag, text, attrs) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  return node;
}

function act(path, body, done) {
  api(path, body).then(() => { say("done: " + path); if (done) done(); refresh(); })
    .catch((err) => say(err.message, true));
}

function seconds(s) {
  return s === null || s === undefined ? "" : Math.round(s) + " s";
}

function pairLine(room, student, pair) {
  const line = el("div", undefined, {"class": "pair" + (pair.mallory ? " mallory" : "")});
  line.dataset.peer = pair.peer;
  line.append(el("span", pair.peer + ": keys " + pair.keys + ", code "));
  const code = pair.code === "match" ? "they match" : pair.code === "differ" ? "they differ"
    : "pending";
  line.append(el("span", code, {"class": pair.code}));
  if (pair.verified) line.append(el("span", ", verified", {"class": "match"}));
  if (pair.mallory) line.append(el("span", ", Mallory in the middle"));
  if (pair.outcome) line.append(el("span", " (" + pair.outcome + ")", {"class": pair.outcome}));
  if (attackMode && !pair.demo) {
    const toggle = el("button", pair.mallory ? "Mallory out" : "Mallory in");
    toggle.dataset.action = "mallory";
    toggle.addEventListener("click", () => act("mallory", {
      room: room, pair: [student.name, pair.peer], on: !pair.mallory}, () => say(
      "Mallory goes " + (pair.mallory ? "out" : "in") + " at this pair's next key share " +
      "(ask them to press Share key)")));
    line.append(" ", toggle);
  }
  return line;
}

function studentRow(room, s) {
  const tr = el("tr");
  tr.dataset.name = s.name;
  tr.append(el("td", s.name, {"class": "name"}));
  tr.append(el("td", s.joined ? "joined" : "joined (no record yet)"));
  tr.append(el("td", s.curve || "—"));
  tr.append(el("td", s.fingerprint || "no key yet"));
  const client = s.client === "seed" ? "seed's page: reports nothing"
    : s.reports ? "reports codes" : /^v\d+$/.test(s.client) ? "no report yet" : "";
  tr.append(el("td", client, {"class": s.client === "seed" ? "seed" : ""}));
  const pairs = el("td");
  if (!s.pairs.length) pairs.textContent = "no key exchange yet";
  for (const p of s.pairs) pairs.append(pairLine(room, s, p));
  tr.append(pairs);
  tr.append(el("td", s.verified ? "yes" : "no", {"class": s.verified ? "match" : ""}));
  const remove = el("button", "Remove");
  remove.dataset.action = "remove";
  remove.addEventListener("click", () => {
    const reason = window.prompt("Why (shown to the student; may be empty)?", "");
    if (reason === null) return;
    act("remove", {room: room, socketId: s.socketId, reason: reason});
  });
  const cell = el("td");
  cell.append(remove);
  tr.append(cell);
  return tr;
}

function roomView(name, room) {
  const box = el("section", undefined, {"class": "room"});
  box.dataset.room = name;
  const title = el("h2", "Room " + name);
  if (room.locked) title.append(el("span", " (locked)", {"class": "locked"}));
  box.append(title);
  const t = room.totals;
  box.append(el("p", t.students + " students, " + t.withKeys + " with keys, " + t.pairs +
    " pairs exchanged keys, " + t.compared + " compared codes, " + t.verified +
    " verified; under Mallory " + t.underMallory + ": " + t.caught + " caught, " + t.fooled +
    " fooled" + (t.seedClients ? "; " + t.seedClients + " on the seed's page" : ""),
    {"class": "totals"}));

  const actions = el("div", undefined, {"class": "actions"});
  const lock = el("button", room.locked ? "Unlock room" : "Lock room");
  lock.dataset.action = "lock";
  lock.addEventListener("click", () => act("lock", {room: name, locked: !room.locked}));
  const clear = el("button", "Clear room");
  clear.dataset.action = "clear";
  clear.addEventListener("click", () => {
    if (window.confirm("Take everyone out of room " + name + "?")) act("clear", {room: name});
  });
  const text = el("input", undefined, {"type": "text", "maxlength": "280",
                                        "placeholder": "a notice for every page in the room"});
  text.value = drafts.get(name) || "";
  text.addEventListener("input", () => drafts.set(name, text.value));
  const send = el("button", "Send notice");
  send.dataset.action = "notice";
  send.addEventListener("click", () => act("notice", {room: name, text: text.value},
                                           () => drafts.delete(name)));
  actions.append(lock, clear, text, send);
  box.append(actions);

  const table = el("table");
  const head = el("tr");
  for (const h of ["Student", "Joined", "Curve", "Key fingerprint", "Client", "Pairs",
                   "Verified", ""]) head.append(el("th", h));
  table.append(head);
  for (const s of room.students) table.append(studentRow(name, s));
  box.append(table);
  if (room.left && room.left.length) {
    box.append(el("p", "Left: " + room.left.map((g) => g.name + " (" +
      new Date(g.left * 1000).toLocaleTimeString() + ")").join(", "), {"class": "left"}));
  }
  return box;
}

function debriefView(state) {
  document.getElementById("debrief-text").textContent = state.debrief.text;
  const list = document.getElementById("debrief-rooms");
  list.replaceChildren();
  for (const [name, room] of Object.entries(state.rooms)) {
    const t = room.totals;
    list.append(el("p", "Room " + name + ": " + t.compared + " of " + t.pairs +
      " pairs compared codes; " + t.caught + " caught Mallory, " + t.fooled + " fooled" +
      (t.medianJoinToVerified !== null ? "; median join to verified " +
       seconds(t.medianJoinToVerified) : ""), {"class": "debrief-room"}));
  }
}

let busy = false;
function refresh() {
  if (busy) return;
  busy = true;
  api("rooms").then((state) => {
    attackMode = state.attackMode;
    const focused = document.activeElement;
    const typing = focused && focused.tagName === "INPUT" && focused.type === "text" &&
      roomsBox.contains(focused) ? focused.closest(".room").dataset.room : null;
    if (typing === null) {
      roomsBox.replaceChildren(...Object.entries(state.rooms).map(([n, r]) => roomView(n, r)));
    }
    debriefView(state);
    say("live: " + Object.keys(state.rooms).length + " rooms, updated " +
        new Date(state.time * 1000).toLocaleTimeString());
    return api("log");
  }).then((answer) => {
    logBox.replaceChildren(...answer.actions.slice(-50).reverse().map((a) => el("li",
      new Date(a.time * 1000).toLocaleTimeString() + " " + a.action + " " +
      (a.room !== undefined ? "room " + a.room : "") + (a.name ? " " + a.name : ""))));
  }).catch((err) => say(err.message, true)).finally(() => { busy = false; });
}

debriefToggle.addEventListener("change", () => {
  debriefBox.hidden = !debriefToggle.checked;
  roomsBox.hidden = debriefToggle.checked;
});
if (!token) say("no token: open this page with the address the relay printed " +
                "(…/teacher#token=…)", true);
refresh();
setInterval(refresh, 1000);
