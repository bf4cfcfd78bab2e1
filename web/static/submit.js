// The submit page: choose frames (upload or a server folder), check the obvious
// mistakes here, upload with a progress bar, then go to the job's page.
"use strict";

(function () {
  const form = document.getElementById("submit-form");
  const maxBytes = Number(form.dataset.maxBytes);
  const maxFrames = Number(form.dataset.maxFrames);
  const filesInput = document.getElementById("files");
  const dropzone = document.getElementById("dropzone");
  const fileSummary = document.getElementById("file-summary");
  const formError = document.getElementById("form-error");
  const uploadPane = document.getElementById("upload-pane");
  const serverPane = document.getElementById("server-pane");
  const progressBox = document.getElementById("upload-progress");
  const progressBar = document.getElementById("upload-bar");
  const progressText = document.getElementById("upload-text");
  const submitButton = document.getElementById("submit-button");
  const IMAGE = /\.(jpe?g|png|bmp|tiff?|webp)$/i;
  const ZIP = /\.zip$/i;

  let chosenFiles = [];
  let chosenFolder = null; // {dir, frames}

  // --- where the frames are -----------------------------------------------------
  form.querySelectorAll('input[name="where"]').forEach((radio) => {
    radio.addEventListener("change", () => {
      const server = form.where.value === "server";
      uploadPane.hidden = server;
      serverPane.hidden = !server;
      img2vid.show(formError, "");
      if (server && !serverPane.dataset.loaded) browse("");
    });
  });

  // --- files ----------------------------------------------------------------------
  function setFiles(list) {
    chosenFiles = Array.from(list).filter((f) => !f.name.startsWith("."));
    const images = chosenFiles.filter((f) => IMAGE.test(f.name));
    const zips = chosenFiles.filter((f) => ZIP.test(f.name));
    const others = chosenFiles.length - images.length - zips.length;
    const total = chosenFiles.reduce((n, f) => n + f.size, 0);
    if (!chosenFiles.length) {
      fileSummary.textContent = "No files chosen yet.";
    } else if (zips.length && !images.length) {
      fileSummary.textContent = "Zip archive " + zips.map((f) => "“" + f.name + "”").join(", ") + " (" + img2vid.bytes(total) + ").";
    } else {
      fileSummary.textContent = images.length + " picture" + (images.length === 1 ? "" : "s") + ", " + img2vid.bytes(total) +
        (others ? " — " + others + " other file" + (others === 1 ? "" : "s") + " will be left out" : "") + ".";
    }
    img2vid.show(formError, "");
  }
  filesInput.addEventListener("change", () => setFiles(filesInput.files));
  ["dragenter", "dragover"].forEach((t) => dropzone.addEventListener(t, (e) => { e.preventDefault(); dropzone.classList.add("over"); }));
  ["dragleave", "drop"].forEach((t) => dropzone.addEventListener(t, (e) => { e.preventDefault(); dropzone.classList.remove("over"); }));
  dropzone.addEventListener("drop", (e) => setFiles(e.dataTransfer.files));

  // --- server folders -------------------------------------------------------------
  const crumbs = document.getElementById("crumbs");
  const folders = document.getElementById("folders");
  const folderSummary = document.getElementById("folder-summary");

  async function browse(dir) {
    serverPane.dataset.loaded = "1";
    folders.innerHTML = "<li>Loading…</li>";
    let data;
    try {
      data = await img2vid.json(await fetch("/api/v1/inputs?dir=" + encodeURIComponent(dir)));
    } catch (e) {
      folders.innerHTML = "";
      img2vid.show(formError, img2vid.explain(e.error || { code: "server_unreachable" }));
      return;
    }
    crumbs.innerHTML = "";
    const parts = dir ? dir.split("/") : [];
    const top = crumbButton("Input folder", "");
    crumbs.append(top);
    parts.forEach((p, i) => { crumbs.append(" / ", crumbButton(p, parts.slice(0, i + 1).join("/"))); });

    folders.innerHTML = "";
    if (dir && data.frames) folders.append(folderRow({ dir, frames: data.frames, folders: 0 }, "This folder"));
    data.folders.forEach((f) => folders.append(folderRow(f, f.dir.split("/").pop())));
    if (!folders.children.length) folders.innerHTML = "<li>No folders here.</li>";
  }

  function crumbButton(text, dir) {
    const b = document.createElement("button");
    b.type = "button"; b.className = "link"; b.textContent = text;
    b.addEventListener("click", () => browse(dir));
    return b;
  }

  function folderRow(f, title) {
    const li = document.createElement("li");
    const name = document.createElement("span");
    name.textContent = title + " — " + f.frames + " frame" + (f.frames === 1 ? "" : "s");
    li.append(name);
    const buttons = document.createElement("span");
    if (f.frames) {
      const use = document.createElement("button");
      use.type = "button"; use.textContent = "Use";
      use.setAttribute("aria-label", "Use " + f.dir + " (" + f.frames + " frames)");
      use.addEventListener("click", () => {
        chosenFolder = f;
        folders.querySelectorAll("li").forEach((x) => x.classList.remove("chosen"));
        li.classList.add("chosen");
        folderSummary.textContent = "Chosen: " + f.dir + " (" + f.frames + " frames).";
        img2vid.show(formError, "");
      });
      buttons.append(use);
    }
    if (f.folders) {
      const open = document.createElement("button");
      open.type = "button"; open.className = "link"; open.textContent = "Open";
      open.setAttribute("aria-label", "Open " + f.dir);
      open.addEventListener("click", () => browse(f.dir));
      buttons.append(" ", open);
    }
    li.append(buttons);
    return li;
  }

  // --- checks before anything is sent ---------------------------------------------
  function problems() {
    const fps = Number(form.fps.value);
    if (!form.fps.value || !isFinite(fps) || fps < 0.01 || fps > 240) return "Frames per second must be a number from 0.01 to 240.";
    if (form.size.value && !/^\s*\d{1,5}\s*[xX×]\s*\d{1,5}\s*$/.test(form.size.value)) return "Size must be width x height in pixels, like 1280x720, or empty.";
    if (form.name.value && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(form.name.value)) return "The file name may use letters, digits, dots, dashes and underscores, starting with a letter or digit.";
    if (form.where.value === "server") return chosenFolder ? null : "Choose a folder on the server (press “Use” next to it).";
    if (!chosenFiles.length) return "Choose the pictures to upload, or one zip archive.";
    const images = chosenFiles.filter((f) => IMAGE.test(f.name));
    const zips = chosenFiles.filter((f) => ZIP.test(f.name));
    if (zips.length > 1) return "Upload one zip archive at a time.";
    if (zips.length && images.length) return "Upload either pictures or one zip archive, not both.";
    if (!zips.length && !images.length) return "None of these files is a picture: use JPG, PNG, BMP, TIFF or WebP, or one zip archive.";
    if (images.length > maxFrames) return images.length + " pictures is more than the " + maxFrames + " this server takes in one video.";
    const total = chosenFiles.reduce((n, f) => n + f.size, 0);
    if (total > maxBytes) return "These files add up to " + img2vid.bytes(total) + ", more than the server's limit of " + img2vid.bytes(maxBytes) + ".";
    return null;
  }

  function fields() {
    const out = { fps: form.fps.value, codec: form.codec.value, fit: form.fit.value };
    if (form.size.value.trim()) out.size = form.size.value.trim().replace("×", "x");
    if (form.name.value.trim()) out.name = form.name.value.trim();
    return out;
  }

  // --- sending --------------------------------------------------------------------
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const problem = problems();
    if (problem) { img2vid.show(formError, problem); formError.scrollIntoView({ block: "center" }); return; }
    img2vid.show(formError, "");
    submitButton.disabled = true;
    try {
      const job = form.where.value === "server" ? await submitFolder() : await upload();
      window.location.assign("/jobs/" + job.id);
    } catch (err) {
      img2vid.show(formError, img2vid.explain(err.error || { code: "server_unreachable" }));
      progressBox.hidden = true;
      submitButton.disabled = false;
    }
  });

  async function submitFolder() {
    const spec = fields();
    spec.fps = Number(spec.fps);
    spec.source = { dir: chosenFolder.dir };
    return img2vid.post("/jobs/new", spec);
  }

  function upload() {
    const data = new FormData();
    Object.entries(fields()).forEach(([k, v]) => data.append(k, v));
    const zips = chosenFiles.filter((f) => ZIP.test(f.name));
    if (zips.length) data.append("archive", zips[0], zips[0].name);
    else chosenFiles.filter((f) => IMAGE.test(f.name)).forEach((f) => data.append("frames", f, f.name));

    // XMLHttpRequest rather than fetch: it reports upload progress.
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", "/jobs/new");
      xhr.setRequestHeader("X-CSRF-Token", img2vid.csrf);
      progressBox.hidden = false;
      xhr.upload.addEventListener("progress", (ev) => {
        if (!ev.lengthComputable) return;
        const pct = Math.floor((100 * ev.loaded) / ev.total);
        progressBar.value = pct;
        progressText.textContent = pct + "% — " + img2vid.bytes(ev.loaded) + " of " + img2vid.bytes(ev.total);
      });
      xhr.addEventListener("load", () => {
        let body = null;
        try { body = JSON.parse(xhr.responseText); } catch (e) { /* described below */ }
        if (xhr.status >= 200 && xhr.status < 300 && body) return resolve(body);
        const error = (body && body.error) || { code: "http_" + xhr.status, message: "The server answered " + xhr.status + "." };
        reject(Object.assign(new Error(error.message), { error }));
      });
      xhr.addEventListener("error", () => reject(Object.assign(new Error("network"), { error: { code: "server_unreachable" } })));
      xhr.send(data);
    });
  }
})();
