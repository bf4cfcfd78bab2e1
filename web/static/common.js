// Shared by the pages: talking to the server, and saying errors in plain words.
"use strict";

const img2vid = {
  csrf: document.querySelector('meta[name="csrf-token"]').content,

  async post(url, body) {
    const opts = { method: "POST", headers: { "X-CSRF-Token": img2vid.csrf } };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    return img2vid.json(await fetch(url, opts));
  },

  async json(response) {
    let data = null;
    try { data = await response.json(); } catch (e) { /* not JSON: described below */ }
    if (!response.ok) {
      const error = (data && data.error) || { code: "http_" + response.status, message: "The server answered " + response.status + "." };
      throw Object.assign(new Error(error.message), { error });
    }
    return data;
  },

  // A sentence a person can act on, from an API error {code, message, path}.
  explain(error) {
    const file = error.path ? "“" + error.path + "”" : "One of the frames";
    switch (error.code) {
      case "unreadable_frame": return file + " could not be read: it may be damaged, cut short, or not really a picture. Remove or replace it and try again.";
      case "frame_too_large": return file + " is too large to use (" + error.message + ").";
      case "no_frames": return "No pictures were found. Use JPG, PNG, BMP, TIFF or WebP files.";
      case "too_many_frames": return "That is more frames than this server takes in one video: " + error.message + ".";
      case "request_too_large": return "The upload is larger than this server accepts (" + error.message + "). Try fewer or smaller files.";
      case "archive_too_large": return "The zip is too large once unpacked: " + error.message + ".";
      case "bad_archive": return "That file is not a zip archive that can be opened.";
      case "bad_archive_member": return "The zip holds something unsafe or broken: " + error.message + ".";
      case "time_limit_exceeded": return "This video took longer to make than this server allows (" + error.message + "). Try fewer or smaller frames.";
      case "storage_full": return "The server has no room left for your upload. Please try again later.";
      case "bad_size": return "That size cannot be used: " + error.message + ".";
      case "worker_lost": return "The encoder stopped unexpectedly on this job several times, so it was given up. The frames may be too large for the server's memory.";
      case "cancelled": return "This job was cancelled.";
      case "storage_unavailable": return "The server cannot reach the place it keeps frames and videos right now. Please try again in a minute.";
      case "storage_denied": return "The server is not allowed into the place it keeps frames and videos. Tell whoever runs it: " + error.message + ".";
      case "redis_unavailable": return "The server is having trouble right now (its queue cannot be reached). Please try again in a minute.";
      case "csrf_failed": return "This page has expired. Reload it and try again.";
      case "unauthorized": return "You are not signed in any more. Reload the page to sign in again.";
      case "rate_limited": return "Too many requests from you in a short time. Wait a moment and try again.";
      case "server_unreachable": return "The server cannot be reached. Check your connection and try again.";
      default: return error.message || "Something went wrong.";
    }
  },

  show(el, text) { el.textContent = text; el.hidden = !text; },

  bytes(n) {
    const units = ["bytes", "KB", "MB", "GB", "TB"];
    let i = 0;
    while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
    return (i ? n.toFixed(n < 10 ? 1 : 0) : n) + " " + units[i];
  },

  duration(seconds) {
    if (seconds < 1) return "under a second";
    seconds = Math.round(seconds);
    if (seconds < 60) return seconds + " s";
    const m = Math.floor(seconds / 60), s = seconds % 60;
    if (m < 60) return m + " min " + (s ? s + " s" : "");
    return Math.floor(m / 60) + " h " + (m % 60) + " min";
  },

  when(iso) {
    const d = new Date(iso);
    return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  },

  // The server's job events (GET /api/v1/jobs/<id>/events and /api/v1/events).
  EVENT_TYPES: ["queued", "started", "progress", "succeeded", "failed", "cancelled"],
  STREAM_WAIT_MS: 4000,
  STREAM_ERRORS: 3,

  // Follows a Server-Sent Events stream: opts.onEvent(type, job) for each event (its data
  // is the job's JSON); opts.onOpen() each time it connects. When the stream does not work,
  // it is closed and opts.onFallback() is called, once, so that the page polls instead:
  // - the browser has no EventSource;
  // - the browser gives up on it (an answer that is not a stream: 503, 404, 204);
  // - it is not connected, or with opts.firstEvent has sent no event yet, STREAM_WAIT_MS
  //   after opening or after it dropped (the browser reconnects within the server's retry);
  // - STREAM_ERRORS drops in a row, each before an event came or it had stayed up 30 s.
  // A drop the browser recovers from in time is no failure: it resumes with Last-Event-ID.
  // Returns {close()}.
  follow(url, opts) {
    let source = null, watchdog = null, errors = 0, openedAt = 0, seen = false, done = false;
    const close = () => {
      done = true;
      clearTimeout(watchdog);
      if (source) source.close();
    };
    const fail = () => {
      if (done) return;
      close();
      opts.onFallback();
    };
    // Not re-armed while it runs: a stream that keeps failing is given up STREAM_WAIT_MS after its first failure.
    const arm = () => { if (watchdog === null) watchdog = setTimeout(fail, img2vid.STREAM_WAIT_MS); };
    const disarm = () => { clearTimeout(watchdog); watchdog = null; };
    if (typeof window.EventSource !== "function") {
      setTimeout(fail);
      return { close };
    }
    source = new EventSource(url);
    arm();
    source.onopen = () => {
      openedAt = Date.now();
      if (seen || !opts.firstEvent) disarm();
      if (opts.onOpen) opts.onOpen();
    };
    for (const type of img2vid.EVENT_TYPES) {
      source.addEventListener(type, (event) => {
        if (done) return;
        let job;
        try { job = JSON.parse(event.data); } catch (e) { fail(); return; }
        seen = true; errors = 0; disarm();
        opts.onEvent(type, job);
      });
    }
    source.onerror = () => {
      if (done) return;
      if (source.readyState === EventSource.CLOSED) { fail(); return; }
      if (openedAt && Date.now() - openedAt > 30000) errors = 0; // it had been working
      openedAt = 0;
      if (++errors >= img2vid.STREAM_ERRORS) { fail(); return; }
      arm(); // reconnecting: it must be back in time
    };
    return { close };
  },
};
