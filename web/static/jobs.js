// The jobs list: newest first, filtered by state, in pages, refreshing by itself.
"use strict";

(function () {
  const PAGE = 20;
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
  let timer = null;
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

  async function load() {
    clearTimeout(timer);
    const q = new URLSearchParams({ limit: PAGE, offset });
    if (state) q.set("state", state);
    try {
      const data = await img2vid.json(await fetch("/api/v1/jobs?" + q, { cache: "no-store" }));
      list.replaceChildren(...data.jobs.map(row));
      status.textContent = data.total ? data.total + " job" + (data.total === 1 ? "" : "s") + (state ? " " + state : "") + "." : "No jobs yet.";
      newer.disabled = offset === 0;
      older.disabled = offset + PAGE >= data.total;
      pageText.textContent = data.total ? "Page " + (Math.floor(offset / PAGE) + 1) + " of " + Math.max(1, Math.ceil(data.total / PAGE)) : "";
    } catch (e) {
      status.textContent = img2vid.explain(e.error || { code: "server_unreachable" });
    }
    timer = setTimeout(load, 3000);
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
  load();
})();
