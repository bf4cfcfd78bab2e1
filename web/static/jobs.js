// The jobs list: newest first, filtered by state, in pages, refreshing by itself: from
// the event stream of every job (GET /api/v1/events), or by polling the JSON API when the
// stream does not work.
"use strict";

(function () {
  const PAGE = 20;
  const POLL_MS = 3000;
  const REFRESH_MS = 500; // the most often events make it fetch the list again
  const FINISHED = ["succeeded", "failed", "cancelled"];
  const list = document.getElementById("jobs");
  const status = document.getElementById("jobs-status");
  const filter = document.getElementById("state-filter");
  const newer = document.getElementById("newer");
  const older = document.getElementById("older");
  const pageText = document.getElementById("page-text");
  // An admin sees everyone's jobs, so each says whose it is.
  const showOwner = list.dataset.showOwner === "1";
  const params = new URLSearchParams(window.location.search);
  let state = params.get("state") || "";
  let offset = Number(params.get("offset") || 0);
  let timer = null; // the next poll, when polling
  let refreshTimer = null; // a fetch the events asked for, held back to one per REFRESH_MS
  let lastLoad = 0;
  let loadRun = 0; // only the latest fetch's answer is shown
  let loading = 0;
  let missed = new Map(); // events that came while a fetch was on its way: applied after it
  let shown = []; // the jobs in the list, as shown
  let total = 0;
  let polling = false;
  filter.value = state;

  function title(j) {
    return (j.spec.name || (j.spec.source && j.spec.source.dir) || "Upload") + " · " + j.spec.codec;
  }

  function row(j) {
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = "/jobs/" + j.id;
    let thumb;
    if (j.state === "succeeded" && j.result) {
      thumb = document.createElement("img");
      thumb.className = "thumb"; thumb.src = j.result.poster_url; thumb.alt = "";
    } else {
      thumb = document.createElement("span");
      thumb.className = "thumb empty"; thumb.textContent = j.state === "running" ? Math.floor(j.progress.percent) + " %" : "—";
    }
    const text = document.createElement("span");
    const t = document.createElement("span");
    t.className = "job-title"; t.textContent = title(j);
    const sub = document.createElement("span");
    sub.className = "hint";
    sub.textContent = " " + img2vid.when(j.created_at) + " · " + j.progress.frames_total + " frames" +
      (j.state === "failed" && j.error ? " · " + j.error.code.replace(/_/g, " ") : "");
    text.append(t, document.createElement("br"), sub);
    if (showOwner) {
      const owner = document.createElement("span");
      owner.className = "hint owner";
      owner.textContent = j.owner ? " · by " + j.owner : " · no owner";
      if (!j.owner) owner.title = "made while the server was open (no API_TOKENS)";
      text.append(owner);
    }
    const badge = document.createElement("span");
    badge.className = "badge " + j.state; badge.textContent = j.state;
    a.append(thumb, text, badge);
    li.append(a);
    return li;
  }

  function counts() {
    status.textContent = total ? total + " job" + (total === 1 ? "" : "s") + (state ? " " + state : "") + "." : "No jobs yet.";
    newer.disabled = offset === 0;
    older.disabled = offset + PAGE >= total;
    pageText.textContent = total ? "Page " + (Math.floor(offset / PAGE) + 1) + " of " + Math.max(1, Math.ceil(total / PAGE)) : "";
  }

  async function load() {
    clearTimeout(timer);
    clearTimeout(refreshTimer);
    refreshTimer = null;
    lastLoad = Date.now();
    const run = ++loadRun;
    loading++;
    const q = new URLSearchParams({ limit: PAGE, offset });
    if (state) q.set("state", state);
    let failed = false;
    try {
      const data = await img2vid.json(await fetch("/api/v1/jobs?" + q, { cache: "no-store" }));
      if (run === loadRun) {
        shown = data.jobs;
        total = data.total;
        list.replaceChildren(...shown.map(row));
        counts();
      }
    } catch (e) {
      failed = true;
      if (run === loadRun) status.textContent = img2vid.explain(e.error || { code: "server_unreachable" });
    } finally {
      loading--;
    }
    if (run !== loadRun) return;
    const late = missed;
    missed = new Map();
    late.forEach(([type, j]) => apply(type, j));
    if (polling || failed) timer = setTimeout(load, POLL_MS); // with the stream on, a failed fetch is tried again
  }

  // Fetch the list again soon, at most once per REFRESH_MS.
  function refreshSoon() {
    if (refreshTimer !== null) return;
    refreshTimer = setTimeout(load, Math.max(0, lastLoad + REFRESH_MS - Date.now()));
  }

  // One event: the row of a job in the list changes in place, and a new job comes in on
  // top; a change this page cannot place by itself (a job leaving the filtered list, or
  // coming into it further down or on another page) fetches the list again.
  function apply(type, j) {
    if (loading) missed.set(j.id, [type, j]);
    const fits = !state || j.state === state;
    const i = shown.findIndex((s) => s.id === j.id);
    if (i >= 0) {
      if (FINISHED.includes(shown[i].state) && !FINISHED.includes(j.state)) return; // older news
      if (!fits) { refreshSoon(); return; }
      shown[i] = j;
      list.children[i].replaceWith(row(j));
      return;
    }
    if (!fits || type === "progress") return; // not in this list, or no change to its place in it
    const newest = !shown.length || Date.parse(j.created_at) >= Date.parse(shown[0].created_at);
    if (offset === 0 && newest) {
      shown.unshift(j);
      list.prepend(row(j));
      total++;
      if (shown.length > PAGE) { shown.pop(); list.lastElementChild.remove(); }
      counts();
      return;
    }
    refreshSoon();
  }

  function go() {
    const q = new URLSearchParams();
    if (state) q.set("state", state);
    if (offset) q.set("offset", offset);
    history.replaceState(null, "", "/jobs" + (q.toString() ? "?" + q : ""));
    load();
  }
  filter.addEventListener("change", () => { state = filter.value; offset = 0; go(); });
  newer.addEventListener("click", () => { offset = Math.max(0, offset - PAGE); go(); });
  older.addEventListener("click", () => { offset += PAGE; go(); });
  let opened = false;
  img2vid.follow("/api/v1/events", {
    // The stream starts with what happens from now on: the list is fetched again once it
    // is open, so that nothing falls between the first fetch and the stream.
    onOpen() {
      if (opened) return; // a reconnect: the stream sends what was missed itself
      opened = true;
      load().then(() => { if (!polling) list.dataset.updates = "events"; });
    },
    onEvent: apply,
    onFallback() {
      polling = true;
      list.dataset.updates = "polling";
      load();
    },
  });
  load();
})();
