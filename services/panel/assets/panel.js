// ferry panel: live progress. A section marked data-live is replaced by what the
// server sends on its event stream (the same HTML the page was rendered with), so
// a move's phase, bytes and expected downtime move without reloading. Without
// this script the page still works: reload it to see the progress.
"use strict";
for (const section of document.querySelectorAll("[data-live]")) {
  if (!("EventSource" in window)) break;
  const source = new EventSource(section.dataset.live);
  source.addEventListener("live", (event) => {
    section.innerHTML = event.data;
    section.dataset.updated = String(Date.now());
  });
}
