// The attacker's page: polls /mallory/api/state every second and switches attacks.
// Every string from the relay goes into the page with textContent, never as HTML.
"use strict";

const token = new URLSearchParams(location.hash.slice(1)).get("token") || "";
const statusLine = document.getElementById("status");
const roomsBox = document.getElementById("rooms");
const shown = new Map();   // room -> its elements

function api(path, body) {
  const init = {headers: {"Authorization": "Bearer " + token}, cache: "no-store"};
  if (body !== undefined) {
    init.method = "POST";
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  return fetch("/mallory/api/" + path, init).then((resp) => {
    if (resp.status === 403) throw new Error("access refused: open this page with the " +
                                             "link the teacher gave you (…/mallory#token=…)");
    if (!resp.ok) throw new Error("the relay answered " + resp.status);
    return resp.json();
  });
}

function say(text, isError) {
  statusLine.textContent = text;
  statusLine.className = isError ? "error" : "";
}

function el(tag, text, attrs) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  return node;
}

function handOut(name) {
  // the teacher's page only: a link that opens this one room, for a student playing Mallory
  const line = el("div", undefined, {"class": "handout"});
  const make = el("button", "Link for a student playing Mallory in this room");
  const link = el("input", undefined, {"type": "text", "readonly": "", "size": "60"});
  link.hidden = true;
  make.addEventListener("click", () => api("room-token", {room: name}).then((answer) => {
    link.value = location.origin + answer.link;
    link.hidden = false;
    link.select();
  }).catch((err) => say(err.message, true)));
  line.append(make, link);
  return line;
}

function roomView(name, attackNames, teacher) {
  const box = el("section", undefined, {"class": "room"});
  box.dataset.room = name;
  box.append(el("h2", "Room " + name));
  if (teacher) box.append(handOut(name));
  const members = el("div", undefined, {"class": "members"});
  box.append(members);
  const attacks = el("div", undefined, {"class": "attacks"});
  const boxes = {};
  for (const attack of attackNames) {
    const label = el("label");
    const check = el("input", undefined, {"type": "checkbox", "name": attack});
    check.addEventListener("change", () => {
      api("attack", {room: name, attack: attack, on: check.checked})
        .then(() => refresh()).catch((err) => say(err.message, true));
    });
    label.append(check, document.createTextNode(" " + attack));
    attacks.append(label);
    boxes[attack] = check;
  }
  box.append(attacks);
  const edit = el("div", undefined, {"class": "edit"});
  const input = el("input", undefined, {"type": "text",
                                        "placeholder": "replace the next message with…"});
  const send = el("button", "Replace next");
  const cancel = el("button", "Cancel");
  send.addEventListener("click", () => api("edit", {room: name, replace: input.value})
    .then(() => refresh()).catch((err) => say(err.message, true)));
  cancel.addEventListener("click", () => api("edit", {room: name, replace: null})
    .then(() => refresh()).catch((err) => say(err.message, true)));
  const pending = el("span", undefined, {"class": "pending"});
  edit.append(input, send, cancel, pending);
  box.append(edit);
  const log = el("div", undefined, {"class": "log"});
  box.append(log);
  roomsBox.append(box);
  return {box, members, boxes, log, pending};
}

function entryView(e) {
  // one message Mallory read: who to whom and when, then the text itself, large
  const entry = el("div", undefined, {"class": "entry"});
  const meta = el("div", undefined, {"class": "meta"});
  meta.append(el("span", e.attack, {"class": "kind"}),
              document.createTextNode(`${e.from} → ${e.to} · ` +
                                      new Date(e.time * 1000).toLocaleTimeString()));
  entry.append(meta, el("span", e.text, {"class": "text"}));
  if (e.edited) entry.append(el("span", "delivered as: " + e.delivered, {"class": "delivered"}));
  return entry;
}

function render(state) {
  const names = Object.keys(state.rooms);
  for (const [name, view] of shown) {
    if (!names.includes(name)) { view.box.remove(); shown.delete(name); }
  }
  for (const name of names) {
    const room = state.rooms[name];
    let view = shown.get(name);
    if (!view) {
      view = roomView(name, state.attacks, state.scope === "all");
      shown.set(name, view);
    }
    view.members.textContent = "Members: " + (room.members.join(", ") || "(nobody)");
    for (const [attack, on] of Object.entries(room.attacks)) {
      if (view.boxes[attack] && document.activeElement !== view.boxes[attack]) {
        view.boxes[attack].checked = on;
      }
    }
    view.pending.textContent = room.replace != null ? "next message becomes: " + room.replace
                                                    : "";
    view.log.replaceChildren(...(room.intercepted.length
      ? room.intercepted.slice().reverse().map(entryView)
      : [el("div", "nothing read yet: switch on mitm, and let them talk", {"class": "empty"})]));
  }
  if (!names.length) say("No rooms yet: nobody has joined this relay.", false);
  else if (state.scope === "all") {
    say("Connected as Mallory (teacher: every room). " + names.length + " room(s).", false);
  } else say("Connected as Mallory in room " + state.scope + " only.", false);
}

function refresh() {
  return api("state").then(render).catch((err) => say(err.message, true));
}

if (!token) {
  say("access refused: open this page with the link the teacher gave you " +
      "(…/mallory#token=…)", true);
} else {
  refresh();
  setInterval(refresh, 1000);
}
