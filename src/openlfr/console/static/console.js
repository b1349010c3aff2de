// openlfr console: a little JavaScript on server-rendered pages. No inline scripts (CSP).
"use strict";

const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

async function api(method, path, body, isForm) {
  const headers = { "X-CSRF-Token": csrf() };
  if (body !== undefined && !isForm) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : (isForm ? body : JSON.stringify(body)),
  });
  if (response.status === 401) { location.href = "/login?next=" + encodeURIComponent(location.pathname); }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail);
    throw new Error(detail || ("HTTP " + response.status));
  }
  return data;
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  Object.entries(attrs || {}).forEach(([k, v]) => { if (k === "class") node.className = v; else node.setAttribute(k, v); });
  children.forEach((c) => node.append(c));
  return node;
}

function showError(id, error) {
  const node = document.getElementById(id);
  if (!node) return;
  node.textContent = error ? error.message : "";
  node.hidden = !error;
}

// A second, explicit yes (the dialog is in every page; "Cancel" has the focus, Esc cancels).
function ask(text) {
  const box = document.getElementById("confirm");
  return new Promise((resolve) => {
    document.getElementById("confirm-text").textContent = text;
    box.hidden = false;
    const yes = document.getElementById("confirm-yes"), no = document.getElementById("confirm-no");
    const escape = (event) => { if (event.key === "Escape") done(false); };
    const done = (answer) => {
      box.hidden = true; yes.onclick = no.onclick = null;
      document.removeEventListener("keydown", escape); resolve(answer);
    };
    yes.onclick = () => done(true); no.onclick = () => done(false);
    document.addEventListener("keydown", escape);
    no.focus();
  });
}

// -- alerts queue ---------------------------------------------------------------------------
function alertsPage() {
  const alerts = new Map();
  let selected = null, last = 0, retry = 1000;
  const queue = document.getElementById("queue");
  const onlyOpen = document.getElementById("only-open");
  const images = document.body.dataset.images === "yes";

  function visible() {
    return [...alerts.values()]
      .filter((a) => !onlyOpen.checked || !a.decision || a.id === selected)
      .sort((a, b) => b.raised_at.localeCompare(a.raised_at));
  }

  function renderQueue() {
    queue.replaceChildren(...visible().map((a) => {
      const item = el("li", { "data-id": a.id, class: (a.decision ? "decided" : "") + (a.id === selected ? " selected" : "") },
        el("span", { class: "score" }, a.score.toFixed(2)),
        el("strong", {}, a.subject), el("br"),
        el("span", { class: "muted" }, `${a.deployment || "?"} · ${a.camera} · ${new Date(a.raised_at).toLocaleTimeString()}` + (a.sightings > 1 ? ` · seen ${a.sightings}×` : "") + (a.decision ? ` · ${a.decision.replaceAll("_", " ")}` : "")));
      item.addEventListener("click", () => select(a.id));
      return item;
    }));
    document.getElementById("queue-empty").hidden = alerts.size > 0;
  }

  function select(id) {
    selected = id;
    const a = alerts.get(id);
    document.getElementById("detail").hidden = !a;
    if (!a) return renderQueue();
    document.getElementById("d-subject").textContent = a.subject;
    document.getElementById("d-meta").textContent = `camera ${a.camera} · ${new Date(a.raised_at).toLocaleString()} · track ${a.track_id}`;
    document.getElementById("d-deployment").textContent = a.deployment ? `${a.deployment}, ${a.location}` : a.deployment_id;
    document.getElementById("d-category").textContent = a.category ? a.category.replaceAll("_", " ") : "no longer on the watchlist";
    document.getElementById("d-reason").textContent = a.reason || "—";
    document.getElementById("d-image-date").textContent = a.image_date ? new Date(a.image_date).toLocaleDateString() : "not recorded";
    const changing = document.getElementById("change-reason");
    if (changing) { changing.hidden = !a.decision; document.getElementById("change-reason-text").value = ""; }
    document.getElementById("d-sightings").textContent = a.sightings > 1
      ? `${a.sightings}: first ${new Date(a.raised_at).toLocaleTimeString()}, last ${new Date(a.last_seen_at).toLocaleTimeString()} (best shown)`
      : "1";
    document.getElementById("d-score").textContent = a.score.toFixed(3);
    document.getElementById("d-threshold").textContent = a.threshold.toFixed(3);
    document.getElementById("d-support").textContent = a.supporting_faces;
    document.getElementById("d-candidates").textContent = a.candidates.slice(1).map((c) => `${c.subject} ${c.score.toFixed(2)}`).join(", ") || "none";
    document.getElementById("d-decision").textContent = a.decision ? `${a.decision.replaceAll("_", " ")} (${a.decided_by})` : "undecided";
    document.getElementById("d-outcome").textContent = a.outcome || "—";
    const probe = document.getElementById("d-probe"), reference = document.getElementById("d-reference");
    const showImages = images && a.images_available;
    probe.parentElement.parentElement.hidden = !showImages;
    document.getElementById("d-noimages").hidden = showImages;
    if (showImages) {
      probe.src = `/api/alerts/${a.id}/probe.jpg?sighting=${a.sightings}`;  // a better sighting replaces the crop
      reference.src = `/api/alerts/${a.id}/reference.jpg`;
    }
    const outcome = document.getElementById("outcome");
    if (outcome) outcome.hidden = a.decision !== "confirmed_match" || !!a.outcome;
    showError("d-error", null);
    renderQueue();
  }

  function move(step) {
    const list = visible();
    const index = list.findIndex((a) => a.id === selected);
    const next = list[Math.max(0, Math.min(list.length - 1, index + step))];
    if (next) select(next.id);
  }

  // A decision waits a few seconds in the browser, so a slip of the finger is undone (Esc);
  // changing one already made needs a reason, which the server audits with the one it replaces.
  const panel = document.getElementById("decide");
  const undoSeconds = panel ? Number(panel.dataset.undo) : 0;
  let pending = null;

  function cancelPending() {
    if (!pending) return;
    clearInterval(pending.timer);
    pending = null;
    document.getElementById("pending").hidden = true;
  }

  function decide(decision) {
    const a = alerts.get(selected);
    if (!a || a.decision === decision) return;
    const reason = a.decision ? document.getElementById("change-reason-text").value.trim() : "";
    if (a.decision && !reason) {
      showError("d-error", new Error(`This alert was decided ${a.decision.replaceAll("_", " ")}. Give a reason to change it.`));
      document.getElementById("change-reason-text").focus();
      return;
    }
    cancelPending();
    let left = undoSeconds;
    const label = decision.replaceAll("_", " ");
    const text = document.getElementById("pending-text");
    text.textContent = `${label} in ${left} s`;
    document.getElementById("pending").hidden = false;
    const id = a.id, wasOpen = !a.decision;
    pending = { timer: setInterval(() => {
      left -= 1;
      if (left > 0) { text.textContent = `${label} in ${left} s`; return; }
      cancelPending();
      send(id, decision, reason, wasOpen);
    }, 1000) };
  }

  async function send(id, decision, reason, wasOpen) {
    try {
      const updated = await api("POST", `/api/alerts/${id}/decision`, { decision, reason });
      alerts.set(updated.id, updated);
      const next = wasOpen && decision !== "confirmed_match" && visible().find((x) => !x.decision && x.id !== id);
      select(next ? next.id : updated.id);  // a confirmed match stays open for its outcome
    } catch (error) { showError("d-error", error); }
  }
  const undo = document.getElementById("undo");
  if (undo) undo.addEventListener("click", cancelPending);

  document.querySelectorAll("[data-decision]").forEach((b) => b.addEventListener("click", () => decide(b.dataset.decision)));
  const save = document.getElementById("outcome-save");
  if (save) save.addEventListener("click", async () => {
    const chosen = document.getElementById("outcome-select").value;
    if (!chosen) { showError("d-error", new Error("Choose the outcome first.")); return; }
    try {
      const updated = await api("POST", `/api/alerts/${selected}/outcome`, { outcome: chosen, reason: "" });
      alerts.set(updated.id, updated);
      const next = visible().find((x) => !x.decision && x.id !== updated.id);
      select(next ? next.id : updated.id);
    } catch (error) { showError("d-error", error); }
  });
  onlyOpen.addEventListener("change", renderQueue);
  const sound = document.getElementById("sound");
  sound.checked = localStorage.getItem("openlfr-sound") !== "off";
  sound.addEventListener("change", () => localStorage.setItem("openlfr-sound", sound.checked ? "on" : "off"));
  let audio = null;
  function arrived(id) {  // a new alert: the queue flashes, and a short tone unless muted
    document.title = `(new alert) Alerts · openlfr`;
    setTimeout(() => { document.title = "Alerts · openlfr"; }, 5000);
    const item = queue.querySelector(`[data-id="${id}"]`);
    if (item) item.classList.add("arrived");
    if (!sound.checked) return;
    try {
      audio = audio || new AudioContext();
      const tone = audio.createOscillator(), gain = audio.createGain();
      tone.frequency.value = 880; gain.gain.value = 0.15;
      tone.connect(gain).connect(audio.destination);
      tone.start(); tone.stop(audio.currentTime + 0.25);
    } catch (error) { /* no audio device: the visual cue stands */ }
  }
  const keys = { c: "confirmed_match", f: "false_alert", n: "not_engaged", u: "unable_to_locate" };
  document.addEventListener("keydown", (event) => {
    if (event.target.closest("input, select, textarea") || event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key.toLowerCase();
    if (event.key === "Escape") cancelPending();
    else if (key === "j") move(1);
    else if (key === "k") move(-1);
    else if (keys[key] && document.getElementById("decide")) decide(keys[key]);
  });

  function connect() {
    const state = document.getElementById("feed-state");
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/api/alerts/ws?since=${last}`);
    socket.onopen = () => { state.textContent = "live"; state.className = "pill ok"; retry = 1000; };
    socket.onmessage = (message) => {
      const event = JSON.parse(message.data);
      last = event.seq;
      const isNew = !alerts.has(event.alert.id);
      alerts.set(event.alert.id, event.alert);
      if (!selected && !event.alert.decision) select(event.alert.id); else if (event.alert.id === selected) select(selected); else renderQueue();
      if (isNew && !event.alert.decision) arrived(event.alert.id);
    };
    socket.onclose = () => {
      state.textContent = "reconnecting…"; state.className = "pill bad";
      setTimeout(connect, retry); retry = Math.min(retry * 2, 15000);
    };
  }

  api("GET", "/api/alerts?limit=200").then((data) => {
    last = data.head;
    data.alerts.forEach((a) => alerts.set(a.id, a));
    renderQueue();
    const first = visible().find((a) => !a.decision);
    if (first) select(first.id);
    connect();
  }).catch((error) => showError("d-error", error));
}

// -- deployments ----------------------------------------------------------------------------
function deploymentsPage() {
  const form = document.getElementById("create-deployment");
  if (!form) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    data.cameras = (data.cameras || "").split("\n").map((s) => s.trim()).filter(Boolean);
    data.planned_start += ":00Z"; data.planned_end += ":00Z";
    try {
      const created = await api("POST", "/api/deployments", data);
      location.href = `/console/deployments/${created.id}`;
    } catch (error) { showError("form-error", error); }
  });
}

function deploymentPage() {
  const id = document.getElementById("deployment").dataset.deployment;
  // Steps that change what the law allows need a reason and a second, explicit yes.
  const needsReason = new Set(["authorise", "approve-watchlist", "start", "end"]);
  document.querySelectorAll("[data-action]").forEach((button) => button.addEventListener("click", async () => {
    const action = button.dataset.action;
    const reasonBox = document.getElementById("action-reason");
    const reason = reasonBox ? reasonBox.value.trim() : "";
    showError("action-error", null);
    if (needsReason.has(action) && !reason) {
      showError("action-error", new Error(`Give the reason for "${button.textContent.trim()}" first.`));
      if (reasonBox) reasonBox.focus();
      return;
    }
    let question = `${button.textContent.trim()}: are you sure?`;
    if (button.dataset.warning) question = `${button.dataset.warning} Go live?`;
    if (action === "end") {
      try {
        const open = await api("GET", `/api/alerts?deployment_id=${id}&undecided=true&limit=1000`);
        if (open.alerts.length) question = `${open.alerts.length} alert(s) of this deployment are still undecided. End it anyway?`;
      } catch (error) { /* a role that cannot read alerts still gets the plain question */ }
    }
    if (!(await ask(question))) return;
    try { await api("POST", `/api/deployments/${id}/${action}`, { reason }); location.reload(); }
    catch (error) { showError("action-error", error); }
  }));
  document.querySelectorAll("[data-remove]").forEach((button) => button.addEventListener("click", async () => {
    const reason = (document.getElementById("action-reason") || { value: "" }).value.trim();
    if (!reason) { showError("action-error", new Error("Give the reason for the removal first (the reason box above).")); return; }
    if (!(await ask(`Remove ${button.dataset.reference} from the watchlist? The running cameras stop matching them at once.`))) return;
    try { await api("DELETE", `/api/subjects/${button.dataset.remove}`, { reason }); location.reload(); }
    catch (error) { showError("action-error", error); }
  }));
  const assign = document.getElementById("assign");
  if (assign) assign.addEventListener("submit", async (event) => {
    event.preventDefault();
    const usernames = assign.usernames.value.split(",").map((s) => s.trim()).filter(Boolean);
    const reason = (document.getElementById("action-reason") || { value: "" }).value.trim();
    try { await api("PUT", `/api/deployments/${id}/field-officers`, { usernames, reason }); location.reload(); }
    catch (error) { showError("action-error", error); }
  });
  document.querySelectorAll("[data-publish]").forEach((button) => button.addEventListener("click", async () => {
    try { await api("PUT", `/api/deployments/${id}/publication`, { published: button.dataset.publish === "true" }); location.reload(); }
    catch (error) { showError("action-error", error); }
  }));
  const importing = document.getElementById("import");
  if (importing) importing.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError("import-error", null);
    try {
      const rows = await api("POST", `/api/deployments/${id}/subjects/import`, new FormData(importing), true);
      const table = document.getElementById("import-results");
      table.querySelector("tbody").replaceChildren(...rows.map((r) => el("tr", { class: r.problem ? "bad" : "good" },
        el("td", {}, String(r.line)), el("td", {}, r.reference || "—"),
        el("td", {}, r.problem ? `not enrolled: ${r.problem}` : "enrolled" + (r.warnings.length ? ` (${r.warnings.join("; ")})` : "")))));
      table.hidden = false;
    } catch (error) { showError("import-error", error); }
  });
  const form = document.getElementById("enrol");
  if (!form) return;
  const feedback = document.getElementById("enrol-feedback");
  const say = (text, good) => feedback.replaceChildren(el("p", { class: good ? "good" : "bad" }, text));
  document.getElementById("check").addEventListener("click", async () => {
    const body = new FormData(); body.append("image", form.image.files[0]);
    try {
      const a = await api("POST", `/api/deployments/${id}/subjects/check`, body, true);
      say(a.usable ? `Usable: ${a.faces > 1 ? `the clearly largest of ${a.faces} faces` : "one face"}, quality ${a.quality}, ${a.inter_eye_px} px between the eyes.` : `Not usable: ${a.problem}`, a.usable);
    } catch (error) { say(error.message, false); }
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const result = await api("POST", `/api/deployments/${id}/subjects`, new FormData(form), true);
      say(`Enrolled (quality ${result.assessment.quality}).` + (result.warnings.length ? " Warnings: " + result.warnings.join("; ") : ""), !result.warnings.length);
      setTimeout(() => location.reload(), 1500);
    } catch (error) { say(error.message, false); }
  });
}

// -- audit ----------------------------------------------------------------------------------
function auditPage() {
  const body = document.querySelector("#audit-table tbody");
  const form = document.getElementById("audit-filter");
  const exportLink = document.getElementById("audit-export");
  let oldest = null;
  function selection() {
    const params = new URLSearchParams();
    for (const [key, value] of new FormData(form)) {
      if (!value) continue;
      params.set(key, key === "since" || key === "until" ? value + ":00Z" : value);
    }
    return params;
  }
  async function more() {
    const params = selection();
    params.set("limit", "100");
    if (oldest) params.set("before", oldest);
    const events = await api("GET", "/api/audit?" + params);
    events.forEach((e) => body.append(el("tr", {}, el("td", {}, String(e.seq)), el("td", {}, e.at.slice(0, 19).replace("T", " ")),
      el("td", {}, e.actor), el("td", {}, e.action),
      el("td", { title: `${e.object_type} ${e.object_id}` }, e.object_name || `${e.object_type} ${e.object_id.slice(0, 8)}`),
      el("td", {}, e.reason))));
    if (events.length) oldest = events[events.length - 1].seq;
    document.getElementById("older").hidden = events.length < 100;
  }
  function reset() {
    oldest = null;
    body.replaceChildren();
    exportLink.href = "/api/audit.csv?" + selection();
    more().catch((error) => body.append(el("tr", {}, el("td", { colspan: "6", class: "error" }, error.message))));
  }
  form.addEventListener("submit", (event) => { event.preventDefault(); reset(); });
  document.getElementById("older").addEventListener("click", more);
  reset();
  api("GET", "/api/audit/verify").then((r) => {
    const chain = document.getElementById("chain");
    chain.textContent = r.intact ? `chain intact · ${r.events} events` : `BROKEN at event ${r.broken_at}: ${r.problem}`;
    chain.className = r.intact ? "pill ok" : "pill bad";
  });
}

// -- retrospective search -------------------------------------------------------------------
function searchPage() {
  const form = document.getElementById("search-form");
  const results = document.getElementById("search-results");
  const status = document.getElementById("search-status");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = form.file.files[0];
    const body = new FormData();
    body.append(file.type.startsWith("video/") ? "video" : "image", file);
    body.append("reason", form.reason.value);
    body.append("top", form.top.value);
    showError("search-error", null);
    results.replaceChildren();
    status.textContent = "Searching…";
    try {
      const found = await api("POST", `/api/galleries/${encodeURIComponent(form.gallery.value)}/search`, body, true);
      status.textContent = `${found.probes.length} probe(s) searched against ${found.gallery}.`;
      found.probes.forEach((probe) => results.append(el("section", { class: "card probe" },
        el("h2", {}, `${probe.probe} · ${probe.seen}`),
        el("table", { class: "list" },
          el("thead", {}, el("tr", {}, el("th", {}, "Rank"), el("th", {}, "Label"), el("th", {}, "Score"))),
          el("tbody", {}, ...probe.candidates.map((c) =>
            el("tr", {}, el("td", {}, String(c.rank)), el("td", {}, c.label), el("td", {}, c.score.toFixed(3)))))))));
    } catch (error) { status.textContent = ""; showError("search-error", error); }
  });
}

// -- field view: confirmed alerts for the officers who engage -----------------------------------
function fieldPage() {
  const list = document.getElementById("field-list");
  const outcomes = list.dataset.outcomes.split(",");
  const shown = new Map();  // alert id → its card, kept while the officer works on it

  function card(a) {
    const select = el("select", { "aria-label": "outcome" }, el("option", { value: "" }, "choose…"),
      ...outcomes.map((o) => el("option", { value: o }, o.replaceAll("_", " "))));
    const save = el("button", { class: "primary" }, "Record outcome");
    const state = el("p", { class: "muted" });
    const node = el("section", { class: "card field-alert", "data-id": a.id },
      el("h2", {}, a.subject),
      el("p", {}, `${a.deployment || ""}, ${a.location || ""} · camera ${a.camera} · ${new Date(a.last_seen_at).toLocaleTimeString()}`),
      el("p", { class: "muted" }, `${(a.category || "").replaceAll("_", " ")} · ${a.reason || ""}`),
      el("div", { class: "pair" },
        el("figure", {}, el("figcaption", {}, "Camera"), el("img", { alt: "camera face", src: `/api/field/alerts/${a.id}/probe.jpg` })),
        el("figure", {}, el("figcaption", {}, "Watchlist"), el("img", { alt: "watchlist photo", src: `/api/field/alerts/${a.id}/reference.jpg` }))),
      el("div", { class: "actions" }, el("label", {}, "Outcome ", select), save), state);
    save.addEventListener("click", async () => {
      if (!select.value) { state.textContent = "Choose the outcome first."; return; }
      try {
        const updated = await api("POST", `/api/field/alerts/${a.id}/outcome`, { outcome: select.value, reason: "" });
        state.textContent = `Recorded: ${updated.outcome.replaceAll("_", " ")}`;
        node.classList.add("done");
      } catch (error) { state.textContent = error.message; }
    });
    if (a.outcome) { state.textContent = `Recorded: ${a.outcome.replaceAll("_", " ")}`; node.classList.add("done"); }
    return node;
  }

  async function refresh() {
    const state = document.getElementById("field-state");
    try {
      const alerts = await api("GET", "/api/field/alerts");
      alerts.slice().reverse().forEach((a) => { if (!shown.has(a.id)) { const node = card(a); shown.set(a.id, node); list.prepend(node); } });
      document.getElementById("field-empty").hidden = shown.size > 0;
      state.textContent = "up to date"; state.className = "pill ok";
      showError("field-error", null);
    } catch (error) { state.textContent = "offline"; state.className = "pill bad"; showError("field-error", error); }
  }
  refresh();
  setInterval(refresh, 5000);
}

// -- administration: the service's health, the purge, the users ----------------------------
function usersPage() {
  const describe = (r) => `${r.dry_run ? "would" : "did"}: end ${r.ended_deployments.length} deployment(s), delete ${r.subjects_deleted} subject(s), purge ${r.alerts_anonymised} alert(s), destroy ${r.keys_destroyed.length} data key(s)`;
  const purge = async (dryRun) => {
    showError("purge-error", null);
    try { document.getElementById("purge-result").textContent = "Purge " + describe(await api("POST", `/api/purge?dry_run=${dryRun}`)); }
    catch (error) { showError("purge-error", error); }
  };
  document.getElementById("purge-preview").addEventListener("click", () => purge(true));
  document.getElementById("purge-run").addEventListener("click", async () => {
    if (await ask("Apply the retention rules now? What is past its retention period is destroyed for good.")) purge(false);
  });
  document.querySelectorAll("[data-user]").forEach((button) => button.addEventListener("click", async () => {
    const enable = button.dataset.active === "true", name = button.dataset.name;
    const question = enable ? `Let ${name} sign in again?` : `Disable ${name}? Their sessions end and their API tokens are revoked at once.`;
    if (!(await ask(question))) return;
    try { await api("POST", `/api/users/${button.dataset.user}/${enable ? "enable" : "disable"}`); location.reload(); }
    catch (error) { showError("users-error", error); }
  }));
  const form = document.getElementById("new-user");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError("users-error", null);
    const body = { username: form.username.value.trim(), display_name: form.display_name.value.trim(), role: form.role.value, password: form.password.value };
    try {
      const user = await api("POST", "/api/users", body);
      form.reset();
      document.getElementById("new-user-result").textContent = `Added ${user.username} (${user.role.replace(/_/g, " ")}).`;
      setTimeout(() => location.reload(), 1200);
    } catch (error) { showError("users-error", error); }
  });
}

// -- account: your own API tokens ------------------------------------------------------------
function accountPage() {
  const body = document.querySelector("#tokens tbody");
  const day = (iso) => (iso ? iso.slice(0, 10) : "never");
  const load = async () => {
    try {
      const tokens = await api("GET", "/api/tokens");
      body.replaceChildren(...tokens.map((t) => {
        const revoke = t.revoked ? "" : el("button", { class: "danger", "data-token": t.id }, "Revoke");
        if (revoke) revoke.addEventListener("click", async () => {
          if (!(await ask(`Revoke "${t.name}"? Whatever uses it stops working at once.`))) return;
          try { await api("DELETE", `/api/tokens/${t.id}`); load(); } catch (error) { showError("tokens-error", error); }
        });
        return el("tr", { "data-name": t.name }, el("td", {}, t.name), el("td", {}, day(t.created_at)), el("td", {}, day(t.expires_at)),
          el("td", {}, t.revoked ? "revoked" : "active"), el("td", {}, revoke));
      }));
    } catch (error) { showError("tokens-error", error); }
  };
  const password = document.getElementById("password");
  password.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError("password-error", null);
    document.getElementById("password-result").textContent = "";
    if (password.new.value !== password.again.value) { showError("password-error", new Error("The two new passwords differ.")); return; }
    try {
      await api("POST", "/api/auth/password", { current: password.current.value, new: password.new.value });
      password.reset();
      document.getElementById("password-result").textContent = "Password changed. Your other sessions and your API tokens have ended.";
      load();
    } catch (error) { showError("password-error", error); }
  });
  const form = document.getElementById("new-token");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError("tokens-error", null);
    const days = form.days.value ? Number(form.days.value) : null;
    try {
      const made = await api("POST", "/api/tokens", { name: form.name.value.trim(), days });
      document.getElementById("token-value").textContent = made.token;
      document.getElementById("token-secret").hidden = false;
      form.reset();
      load();
    } catch (error) { showError("tokens-error", error); }
  });
  load();
}

const pages = { field: fieldPage, alerts: alertsPage, deployments: deploymentsPage, deployment: deploymentPage, audit: auditPage, search: searchPage, users: usersPage, account: accountPage };
document.addEventListener("DOMContentLoaded", () => (pages[document.body.dataset.page] || (() => {}))());
