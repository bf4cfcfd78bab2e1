// One job's page: follows the job without reloading, through its event stream
// (GET /api/v1/jobs/<id>/events), or by polling the JSON API when the stream does not work.
"use strict";

(function () {
  const root = document.getElementById("job");
  const id = root.dataset.jobId;
  const playable = root.dataset.playable.split(",");
  const labels = JSON.parse(document.getElementById("codec-labels").textContent);
  const $ = (x) => document.getElementById(x);
  const FINISHED = ["succeeded", "failed", "cancelled"];
  let job = null;
  let shownResult = false;
  let polling = false;
  let pollTimer = null;
  let pollRun = 0;

  function render(j) {
    // A finished job stays finished: a late answer cannot take it back.
    if (job && FINISHED.includes(job.state) && !FINISHED.includes(j.state)) return;
    job = j;
    const state = $("state");
    state.textContent = j.state;
    state.className = "badge " + j.state;

    const p = j.progress;
    $("progress-bar").value = p.percent;
    $("progress-text").textContent = p.frames_total
      ? p.frames_done + " of " + p.frames_total + " frames (" + Math.floor(p.percent) + " %)"
      : "Counting frames…";

    const queue = $("queue-text");
    if (j.state === "queued") {
      queue.textContent = (j.queue_position === 0 ? "Next in line." : j.queue_position + " job" + (j.queue_position === 1 ? "" : "s") + " ahead.") +
        (j.eta_seconds != null ? " Done in about " + img2vid.duration(j.eta_seconds) + "." : "");
    } else if (j.state === "running") {
      queue.textContent = j.eta_seconds == null ? "" : j.eta_seconds < 1 ? "Almost done." : "About " + img2vid.duration(j.eta_seconds) + " left.";
    } else {
      queue.textContent = "";
    }

    const start = Date.parse(j.started_at || j.created_at);
    const end = j.finished_at ? Date.parse(j.finished_at) : Date.now();
    $("timing").textContent = j.started_at
      ? (j.finished_at ? "took " : "running for ") + img2vid.duration((end - start) / 1000)
      : "waiting for " + img2vid.duration((Date.now() - Date.parse(j.created_at)) / 1000);

    $("cancel").hidden = FINISHED.includes(j.state);
    $("retry").hidden = !(j.state === "failed" || j.state === "cancelled");
    img2vid.show($("job-error"), j.state === "failed" && j.error ? img2vid.explain(j.error) : "");

    if (j.state === "succeeded" && !shownResult) showResult(j);
    // The state first, so a background tab says when the job is done.
    document.title = j.state + " · " + (root.dataset.title || "video " + id) + " · img2vid";
  }

  function showResult(j) {
    shownResult = true;
    const r = j.result;
    const player = $("player");
    player.innerHTML = "";
    if (playable.includes(r.codec)) {
      const v = document.createElement("video");
      v.controls = true; v.preload = "metadata"; v.playsInline = true;
      v.src = r.video_url; v.poster = r.poster_url;
      v.setAttribute("aria-label", "The finished video");
      player.append(v);
      $("result-text").textContent = r.frames + " frames, " + r.width + "×" + r.height + ", " + r.fps + " fps, " +
        img2vid.duration(r.duration_seconds) + ", " + img2vid.bytes(r.bytes) + ".";
    } else {
      const img = document.createElement("img");
      img.src = r.poster_url; img.alt = "The first frame of the video";
      player.append(img);
      $("result-text").textContent = (labels[r.codec] || r.codec) + ": browsers cannot play this format, so here is its first frame. " +
        "Download the video and open it in a player such as VLC. " + r.frames + " frames, " + r.width + "×" + r.height + ", " + img2vid.bytes(r.bytes) + ".";
    }
    $("result").hidden = false;
    const dl = $("download");
    dl.href = r.video_url + "?download=1";
    dl.hidden = false;
    $("progress-label").textContent = "Done";
  }

  // One chain of polls at a time: a poll started anew ends the one before.
  async function poll() {
    clearTimeout(pollTimer);
    const run = ++pollRun;
    try {
      const j = await img2vid.json(await fetch("/api/v1/jobs/" + id, { cache: "no-store" }));
      render(j);
      if (FINISHED.includes(job.state)) return;
    } catch (e) {
      img2vid.show($("action-error"), img2vid.explain(e.error || { code: "server_unreachable" }));
    }
    if (run === pollRun) pollTimer = setTimeout(poll, job && job.state === "running" ? 500 : 1000);
  }

  function startPolling() {
    if (polling) return;
    polling = true;
    root.dataset.updates = "polling";
    poll();
  }

  async function act(path, button) {
    button.disabled = true;
    img2vid.show($("action-error"), "");
    try {
      const j = await img2vid.post("/jobs/" + id + "/" + path);
      if (path === "retry") { window.location.assign("/jobs/" + j.id); return; }
      render(j);
      if (polling) poll(); // else the stream tells what comes of it
    } catch (e) {
      img2vid.show($("action-error"), img2vid.explain(e.error || { code: "server_unreachable" }));
    } finally {
      button.disabled = false;
    }
  }
  $("cancel").addEventListener("click", () => act("cancel", $("cancel")));
  $("retry").addEventListener("click", () => act("retry", $("retry")));
  setInterval(() => { if (job && !FINISHED.includes(job.state)) render(job); }, 1000); // the clock moves between updates
  const stream = img2vid.follow("/api/v1/jobs/" + id + "/events", {
    firstEvent: true, // the server's first event is the job as it is now
    onEvent(type, j) {
      root.dataset.updates = "events";
      render(j);
      if (FINISHED.includes(j.state)) stream.close(); // the last event it sends
    },
    onFallback: startPolling,
  });
})();
