// Drag and drop for the scene timeline (components/timeline.py), with the browser's own HTML5 events.
// Dropping a card onto another puts it in that card's place; dropping it on the track's free space (or on
// Add shot) puts it last. The new order goes to the page as a `timeline-order` event; the page saves it
// and redraws the timeline, so the cards never stay in an order the studio did not accept.
(() => {
  let dragged = null;
  const cardOf = (node) => (node instanceof Element ? node.closest(".timeline-card") : null);
  const trackOf = (node) => (node instanceof Element ? node.closest(".timeline-track") : null);
  const unmark = () =>
    document.querySelectorAll(".timeline-card--target").forEach((c) => c.classList.remove("timeline-card--target"));

  document.addEventListener("dragstart", (event) => {
    const card = cardOf(event.target);
    if (!card) return;
    dragged = card;
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.dataset.shotId);
    card.classList.add("timeline-card--dragging");
  });

  document.addEventListener("dragend", () => {
    if (dragged) dragged.classList.remove("timeline-card--dragging");
    dragged = null;
    unmark();
  });

  document.addEventListener("dragover", (event) => {
    if (!dragged || trackOf(event.target) !== trackOf(dragged)) return;
    event.preventDefault(); // allows the drop
    event.dataTransfer.dropEffect = "move";
    const target = cardOf(event.target);
    unmark();
    if (target && target !== dragged) target.classList.add("timeline-card--target");
  });

  document.addEventListener("drop", (event) => {
    const track = trackOf(event.target);
    if (!dragged || !track || track !== trackOf(dragged)) return;
    event.preventDefault();
    const cards = [...track.querySelectorAll(".timeline-card")];
    const ids = cards.map((card) => card.dataset.shotId);
    const from = cards.indexOf(dragged);
    const target = cardOf(event.target);
    const to = target ? cards.indexOf(target) : cards.length - 1;
    unmark();
    if (from < 0 || to < 0 || from === to) return;
    ids.splice(to, 0, ids.splice(from, 1)[0]);
    emitEvent("timeline-order", { scene_id: track.dataset.sceneId, shot_ids: ids });
  });
})();
