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
};
