// The console's live page: draws the board (or one run) from JSON, keeps it current from
// the server-sent event stream, and ticks the countdowns and clocks every second.
// Text goes in with textContent only: nothing from the journal is ever parsed as HTML.
"use strict";

(function () {
  const body = document.body;
  const words = JSON.parse(document.getElementById("words").textContent || "{}");
  const t = (key) => words[key] || key;
  const st = (status) => words["st_" + status] || status;
  let skew = 0; // server clock minus ours, so countdowns follow the server

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined) node.setAttribute(name, value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function duration(seconds) {
    const s = Math.floor(Math.abs(seconds));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    const two = (n) => String(n).padStart(2, "0");
    return (h ? h + ":" + two(m) : String(m)) + ":" + two(r);
  }

  function now() { return Date.now() + skew; }

  // Moments in the reader's own time zone and language (the duty room's, the phone's).
  function local(iso) {
    return new Date(iso).toLocaleString(body.dataset.lang === "zh" ? "zh-CN" : "en-GB",
      { dateStyle: "short", timeStyle: "short" });
  }

  function countdown(due) {
    return el("span", { class: "countdown", "data-due": due });
  }

  function drawIncidents(list) {
    const box = document.getElementById("incidents");
    if (!box) return;
    if (!list.length) return box.replaceChildren(el("p", { class: "empty" }, t("no_incidents")));
    box.replaceChildren(...list.map((inc) => el("div", { class: "card incident level-" + inc.level, "data-incident": inc.id },
      el("h3", {}, inc.id + " — " + inc.summary),
      el("p", {}, t("level") + ": ", el("span", { class: "badge level-" + inc.level }, t("lv_" + inc.level)),
        "  " + t("grade") + ": " + (inc.grade || "-")),
      el("table", {}, ...inc.deadlines.map((d) => el("tr", { "data-deadline": d.key },
        el("td", {}, body.dataset.lang === "zh" ? d.what_zh : d.what_en),
        el("td", {}, countdown(d.due)),
        el("td", { class: "muted" }, local(d.due))))))));
  }

  function drawRuns(list) {
    const box = document.getElementById("runs");
    if (!box) return;
    if (!list.length) return box.replaceChildren(el("p", { class: "empty" }, t("no_runs")));
    box.replaceChildren(...list.map((run) => {
      const rto = run.rto || {};
      const clock = el("span", { class: "clock", "data-since": rto.since, "data-stopped": rto.stopped_at,
        "data-target": rto.target_seconds });
      const rows = run.steps.map((s) => {
        const approval = s.kind === "approval" && s.status === "waiting"
          ? el("a", { href: "/approve/" + encodeURIComponent(run.id) + "/" + s.id, class: "button", "data-approve": s.id }, t("open_approval"))
          : null;
        return el("tr", { "data-step": s.id, "data-status": s.status, "data-host": s.host || "" },
          el("td", {}, s.id + (s.host ? " @ " + s.host : "")),
          el("td", {}, s.kind),
          el("td", { class: "status status-" + s.status }, st(s.status)),
          el("td", {}, approval));
      });
      return el("div", { class: "card run", "data-run": run.id },
        el("h3", {}, el("a", { href: "/runs/" + encodeURIComponent(run.id) }, run.runbook), " ",
          el("small", {}, run.id + " · " + run.mode + " · " + run.started_by)),
        el("p", {}, t("status") + ": ", el("span", { class: "run-status status-" + run.status, "data-status": run.status }, st(run.status)),
          "  " + t("rto_clock") + ": ", clock),
        el("table", { class: "steps" }, el("tr", {}, el("th", {}, t("step")), el("th", {}, ""), el("th", {}, t("status")), el("th", {}, "")), ...rows));
    }));
  }

  function drawBackups(list) {
    const box = document.getElementById("backups");
    if (!box) return;
    if (!list.length) return box.replaceChildren(el("p", { class: "empty" }, t("no_backups")));
    box.replaceChildren(el("table", {},
      el("tr", {}, el("th", {}, ""), el("th", {}, t("newest_backup")), el("th", {}, t("restore_test"))),
      ...list.map((b) => {
        const late = b.age_seconds !== null && b.rpo_seconds !== null && b.age_seconds > b.rpo_seconds;
        const age = b.age_seconds === null
          ? (b.repository_up ? t("never") : t("unreadable"))
          : duration(b.age_seconds) + (b.rpo_seconds !== null ? " / " + t("target") + " " + duration(b.rpo_seconds) : "");
        const test = b.restore_test_at
          ? local(b.restore_test_at) + " " + (b.restore_test_ok ? t("passed") : t("failed"))
          : t("never");
        return el("tr", { "data-set": b.name, class: late ? "late" : "" },
          el("td", {}, b.name), el("td", {}, age), el("td", {}, test));
      })));
  }

  function draw(data) {
    if (data.now) skew = Date.parse(data.now) - Date.now();
    if (data.incidents) drawIncidents(data.incidents);
    if (data.runs) drawRuns(data.runs);
    if (data.run) drawRuns([data.run]);
    if (data.backups) drawBackups(data.backups);
    tick();
  }

  function tick() {
    for (const node of document.querySelectorAll(".countdown")) {
      const left = (Date.parse(node.dataset.due) - now()) / 1000;
      node.textContent = left >= 0 ? t("due_in") + " " + duration(left) : t("overdue") + " " + duration(left);
      node.classList.toggle("overdue", left < 0);
    }
    for (const node of document.querySelectorAll(".clock")) {
      if (!node.dataset.since) continue;
      const end = node.dataset.stopped ? Date.parse(node.dataset.stopped) : now();
      const spent = (end - Date.parse(node.dataset.since)) / 1000;
      const target = node.dataset.target ? Number(node.dataset.target) : null;
      node.textContent = duration(spent) + (target ? " / " + t("target") + " " + duration(target) : "");
      node.classList.toggle("overdue", target !== null && spent > target);
    }
  }

  const initial = document.getElementById("initial");
  if (initial) draw(JSON.parse(initial.textContent));
  setInterval(tick, 1000);

  if (body.dataset.stream && window.EventSource) {
    const state = document.getElementById("live-state");
    const source = new EventSource(body.dataset.stream);
    source.onmessage = (event) => {
      if (state) { state.textContent = t("live"); state.className = "ok"; }
      draw(JSON.parse(event.data));
    };
    source.onerror = () => {
      if (state) { state.textContent = t("disconnected"); state.className = "warn"; }
    };
    source.addEventListener("signed-out", () => { source.close(); window.location.assign("/signin"); });
  }
})();
