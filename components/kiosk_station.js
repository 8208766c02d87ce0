// The kiosk review station. It runs in the browser so that a keypress shows the next image at once:
// images come from GET /api/review/queue and are decoded ahead of time, and every decision is saved in
// the background through the REST API with the image version the station saw. The server page only
// pushes what happened elsewhere (another station's decisions, new images, the pending count).
import { markRaw } from "vue";

const PRELOAD_AHEAD = 5; // decoded images kept ready after the current one
const KEEP_BEHIND = 3; // and before it, for ← without a refetch
const REFILL_BELOW = 10; // undecided images ahead before the station asks for more
const FETCH_LIMIT = 40;
const RECHECK_MS = 30000; // at the end of the queue: look for new images even if no push arrived
const QUEUE_RETRY_MS = 2000;
const RETRY_MS = [500, 1000, 2000, 4000, 8000];
const TOAST_MS = 2200;
const SWIPE_PX = 60;
// Per tab, so that a reload (NiceGUI reloads the page after a server restart) keeps unsaved decisions,
// while two stations in two tabs of one browser never send each other's.
const OUTBOX_KEY = "anime-studio-kiosk-outbox";
// Answers a retry can fix: the server is restarting, overloaded, or the session needs a new login.
const RETRYABLE = new Set([401, 403, 408, 425, 429]);

const STATUS_TEXT = {
  open: "Waiting for your decision",
  skipped: "Skipped (still pending)",
  approved: "Approved here",
  rejected: "Rejected here",
  taken: "Decided on another station",
};

export default {
  template: `
    <div class="kiosk-station" :class="{ 'kiosk-is-fullscreen': fullscreen }" :style="{ '--kiosk-around': around + 'px' }"
         :data-current-image="view.id || ''" :data-shown-image="shownId || ''" :data-unsaved="unsaved">
      <section class="kiosk-stage-wrap" @touchstart.passive="touchStart" @touchend="touchEnd">
        <div ref="stage" class="kiosk-stage"></div>
        <div v-if="view.banner" class="kiosk-banner" data-testid="kiosk-banner">{{ view.banner }}</div>
        <div v-if="!view.id" class="kiosk-empty" data-testid="kiosk-empty">
          <div v-if="loading" class="kiosk-empty-title">Loading images…</div>
          <template v-else-if="skipped">
            <div class="kiosk-empty-title">End of the queue: {{ skipped }} skipped image(s) still pending</div>
            <div class="kiosk-empty-note">Press ← to go back to them, or review them another time.</div>
          </template>
          <template v-else>
            <div class="kiosk-empty-title">Nothing to review — all caught up</div>
            <a :href="prefixed(config.datasets_url)" class="kiosk-link">Open the dataset</a>
            <div v-if="reviewed" class="kiosk-empty-note">Press ← to look at the images you decided, Z to undo.</div>
          </template>
        </div>
        <div v-if="toast" class="kiosk-toast" role="status" data-testid="kiosk-toast">{{ toast }}</div>
      </section>
      <aside class="kiosk-side">
        <div class="kiosk-character" data-testid="kiosk-character">{{ view.character }}</div>
        <img v-if="view.reference" :src="prefixed(view.reference)" class="kiosk-reference" alt="Character reference" />
        <div v-else-if="view.id" class="kiosk-no-reference">No reference image for this character</div>
        <div class="kiosk-counts">
          <div class="kiosk-status" :class="'kiosk-status-' + view.status" data-testid="kiosk-status">{{ view.statusText }}</div>
          <div data-testid="kiosk-position">{{ view.position }}</div>
          <div data-testid="kiosk-remaining">{{ reviewed }} decided here · {{ pendingText }} pending</div>
          <div :class="unsaved ? (failing ? 'kiosk-unsaved kiosk-failing' : 'kiosk-unsaved') : 'kiosk-saved'"
               :title="failing || ''" data-testid="kiosk-unsaved">{{ savingText }}</div>
        </div>
        <div class="kiosk-legend">
          <div><kbd>A</kbd> <kbd>Enter</kbd> approve</div>
          <div><kbd>1</kbd>…<kbd>9</kbd> reject with the reason on its button</div>
          <div><kbd>S</kbd> <kbd>Space</kbd> skip</div>
          <div><kbd>Z</kbd> <kbd>⌫</kbd> undo last decision</div>
          <div><kbd>←</kbd> <kbd>→</kbd> previous / next</div>
          <div><kbd>F</kbd> full screen (<kbd>Esc</kbd> leaves)</div>
        </div>
      </aside>
      <nav class="kiosk-controls">
        <div class="kiosk-main-buttons">
          <button type="button" tabindex="-1" class="kiosk-button" @mousedown.prevent @click="act('undo', null, $event.timeStamp)">Undo</button>
          <button type="button" tabindex="-1" class="kiosk-button kiosk-browse" @mousedown.prevent @click="act('previous', null, $event.timeStamp)" aria-label="Previous image">←</button>
          <button type="button" tabindex="-1" class="kiosk-button" @mousedown.prevent @click="act('skip', null, $event.timeStamp)">Skip</button>
          <button type="button" tabindex="-1" class="kiosk-button kiosk-browse" @mousedown.prevent @click="act('next', null, $event.timeStamp)" aria-label="Next image">→</button>
          <button type="button" tabindex="-1" class="kiosk-button kiosk-reasons-button" data-testid="kiosk-reasons-button" @mousedown.prevent @click="act('reasons', null, $event.timeStamp)">Reject…</button>
          <button type="button" tabindex="-1" class="kiosk-button kiosk-approve" data-testid="kiosk-approve" @mousedown.prevent @click="act('approve', null, $event.timeStamp)">Approve</button>
          <button type="button" tabindex="-1" class="kiosk-button" @mousedown.prevent @click="act('fullscreen', null, $event.timeStamp)" title="Full screen (F)" aria-label="Full screen"><span class="material-icons">{{ fullscreen ? "fullscreen_exit" : "fullscreen" }}</span></button>
        </div>
        <div class="kiosk-reject-buttons" :class="{ 'kiosk-reasons-open': reasonsOpen }" data-testid="kiosk-reasons">
          <div class="kiosk-reasons-title">Reject: why?</div>
          <button v-for="c in config.categories" :key="c.key" type="button" tabindex="-1" class="kiosk-button kiosk-reject"
                  @mousedown.prevent @click="act('reject', c.key, $event.timeStamp)">{{ c.key }} {{ c.label }}</button>
          <button type="button" tabindex="-1" class="kiosk-button kiosk-reasons-cancel" @mousedown.prevent @click="reasonsOpen = false">Cancel</button>
        </div>
      </nav>
    </div>`,
  props: {
    config: Object,
  },
  data() {
    return {
      view: { id: null, character: "", reference: null, status: "open", statusText: "", position: "", banner: "" },
      shownId: null,
      reviewed: 0,
      skipped: 0, // shown at the end of the queue: skipped images are still pending
      pending: this.config.pending,
      unsaved: 0,
      failing: null,
      toast: "",
      loading: true,
      fullscreen: false,
      reasonsOpen: false, // on a phone the rejection reasons are a sheet, opened by a swipe left or "Reject…"
      around: 150, // the page's height above and below the station: the station takes the rest of the window
      // Station state that must not be reactive: thousands of entries and <img> elements.
      s: markRaw({
        tape: [], // every image this station holds, in queue order
        byId: new Map(),
        pos: 0, // index of the current image; tape.length means "past the end"
        cursor: 0, // the highest image id fetched: the next fetch asks for images after it
        exhausted: false,
        fetching: false,
        outbox: [], // decisions and undos not yet saved, sent one after another in order
        inFlight: null,
        pumping: false,
        wake: null,
        opSeq: 0,
        versions: new Map(), // image id -> the version this station last saw
        decisionIds: new Map(), // image id -> ids of this station's saved decisions, newest last
        history: [], // {entry, op, before}: what Z undoes, newest last
        showSeq: 0,
        waitingKeyAt: null, // a key pressed while the station waited for more images
        touch: null,
        resizeObserver: null,
        recheck: null,
        toastTimer: null,
        timers: new Set(),
      }),
    };
  },
  computed: {
    pendingText() {
      return Number(this.pending).toLocaleString();
    },
    savingText() {
      if (!this.unsaved) return "All decisions saved";
      return this.failing ? `${this.unsaved} unsaved — retrying` : `${this.unsaved} saving…`;
    },
  },
  mounted() {
    this.onFullscreen = () => (this.fullscreen = document.fullscreenElement === this.$el);
    this.onUnload = (event) => {
      if (!this.s.outbox.length) return;
      event.preventDefault();
      event.returnValue = "";
    };
    this.onOnline = () => this.s.wake?.();
    this.onResize = () => {
      // Below the station only the padding of the elements around it (never the empty window: that would
      // shrink the station on every measurement).
      let below = parseFloat(getComputedStyle(this.$el).marginBottom) || 0;
      for (let node = this.$el.parentElement; node && node !== document.documentElement; node = node.parentElement) {
        below += parseFloat(getComputedStyle(node).paddingBottom) || 0;
      }
      this.around = Math.max(0, Math.round(this.$el.getBoundingClientRect().top + window.scrollY + below));
    };
    this.onResize();
    // Measured again when the page around it settles (fonts, the pickers wrapping, the header hidden here).
    this.s.resizeObserver = new ResizeObserver(this.onResize);
    this.s.resizeObserver.observe(document.body);
    document.addEventListener("keydown", this.onKey);
    document.addEventListener("fullscreenchange", this.onFullscreen);
    window.addEventListener("resize", this.onResize);
    window.addEventListener("beforeunload", this.onUnload);
    window.addEventListener("online", this.onOnline);
    this.restoreOutbox();
    this.fetchMore();
  },
  unmounted() {
    this.s.resizeObserver?.disconnect();
    document.removeEventListener("keydown", this.onKey);
    document.removeEventListener("fullscreenchange", this.onFullscreen);
    window.removeEventListener("resize", this.onResize);
    window.removeEventListener("beforeunload", this.onUnload);
    window.removeEventListener("online", this.onOnline);
    for (const timer of this.s.timers) clearTimeout(timer);
  },
  methods: {
    // --- input ------------------------------------------------------------------------------------------

    onKey(event) {
      if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
      const target = event.target;
      if (target?.closest?.("input, textarea, select, [contenteditable], .q-field, .q-menu, .q-dialog")) return;
      const key = event.key;
      // Enter and Space on a focused button or link belong to that control.
      if ((key === "Enter" || key === " ") && target?.closest?.("button, a, [role=button], [tabindex]")) {
        if (target !== this.$el && !this.$el.contains(target)) return;
      }
      let action = null;
      let arg = null;
      if (key === "a" || key === "A" || key === "Enter") action = "approve";
      else if (/^[1-9]$/.test(key)) [action, arg] = ["reject", key];
      else if (key === "s" || key === "S" || key === " ") action = "skip";
      else if (key === "z" || key === "Z" || key === "Backspace") action = "undo";
      else if (key === "ArrowRight") action = "next";
      else if (key === "ArrowLeft") action = "previous";
      else if (key === "f" || key === "F") action = "fullscreen";
      else if (key === "Escape" && this.reasonsOpen) action = "reasons";
      else if (key === "Escape" && document.fullscreenElement === this.$el) action = "fullscreen"; // browsers in kiosk mode may pass Esc on
      if (!action) return;
      event.preventDefault();
      // Holding a key must not decide a run of images; holding an arrow may browse.
      if (event.repeat && action !== "next" && action !== "previous") return;
      this.act(action, arg, event.timeStamp);
    },

    touchStart(event) {
      const t = event.changedTouches[0];
      this.s.touch = { x: t.clientX, y: t.clientY };
    },

    touchEnd(event) {
      const start = this.s.touch;
      this.s.touch = null;
      if (!start) return;
      const t = event.changedTouches[0];
      const dx = t.clientX - start.x;
      const dy = t.clientY - start.y;
      if (Math.abs(dx) < SWIPE_PX || Math.abs(dx) < 1.5 * Math.abs(dy)) return;
      // As on a card: to the right keeps the image, to the left asks why it goes.
      this.act(dx > 0 ? "approve" : "reasons", null, event.timeStamp);
    },

    act(action, arg, keyAt) {
      if (action === "reasons") {
        this.reasonsOpen = !this.reasonsOpen && Boolean(this.s.tape[this.s.pos]);
        return;
      }
      this.reasonsOpen = false;
      if (action === "approve") this.decide("approved", null, keyAt);
      else if (action === "reject") {
        const category = this.config.categories.find((c) => c.key === arg);
        if (category) this.decide("rejected", category, keyAt);
      } else if (action === "skip") this.skip(keyAt);
      else if (action === "undo") this.undo(keyAt);
      else if (action === "next") this.move(1, keyAt);
      else if (action === "previous") this.move(-1, keyAt);
      else if (action === "fullscreen") this.toggleFullscreen();
    },

    toggleFullscreen() {
      if (document.fullscreenElement) document.exitFullscreen();
      else this.$el.requestFullscreen?.().catch((error) => this.say(`Full screen refused: ${error.message}`));
    },

    // --- deciding ---------------------------------------------------------------------------------------

    decide(state, category, keyAt) {
      const entry = this.s.tape[this.s.pos];
      if (!entry) return;
      if (entry.status === "taken") {
        this.say("Already decided on another station");
        this.advance(keyAt);
        return;
      }
      const categories = category ? [category.name] : [];
      const same = entry.status === state && String(entry.categories) === String(categories);
      if (!same) {
        const op = { key: ++this.s.opSeq, kind: "decide", imageId: entry.image.id, state, categories };
        this.s.history.push({ entry, op, before: { status: entry.status, categories: entry.categories } });
        if (!this.decided(entry)) this.reviewed += 1;
        entry.status = state;
        entry.categories = categories;
        entry.label = category ? category.label : "";
        this.enqueue(op);
      }
      this.advance(keyAt);
    },

    skip(keyAt) {
      const entry = this.s.tape[this.s.pos];
      if (!entry) return;
      if (entry.status === "open") entry.status = "skipped";
      this.advance(keyAt);
    },

    undo(keyAt) {
      const last = this.s.history.pop();
      if (!last) {
        this.say("Nothing to undo");
        return;
      }
      const { entry, op, before } = last;
      const queued = this.s.outbox.indexOf(op);
      if (queued >= 0 && this.s.inFlight !== op) {
        this.s.outbox.splice(queued, 1); // never sent: forgetting it is the undo
        this.persist();
      } else {
        this.enqueue({ key: ++this.s.opSeq, kind: "undo", imageId: entry.image.id });
      }
      entry.status = before.status === "approved" || before.status === "rejected" ? before.status : "open";
      entry.categories = before.categories;
      if (!this.decided(entry)) this.reviewed -= 1;
      const index = this.s.tape.indexOf(entry);
      if (index >= 0) {
        this.s.pos = index;
        this.show(keyAt);
      }
    },

    decided(entry) {
      return entry.status === "approved" || entry.status === "rejected";
    },

    // --- moving through the queue -------------------------------------------------------------------

    advance(keyAt) {
      // To the next image nobody has decided; the ones this station went back over are passed.
      let next = this.s.pos + 1;
      while (next < this.s.tape.length && this.s.tape[next].status !== "open") next += 1;
      this.s.pos = next;
      this.show(keyAt);
    },

    move(step, keyAt) {
      const next = this.s.pos + step;
      if (next < 0 || next > this.s.tape.length) return;
      this.s.pos = next;
      this.show(keyAt);
    },

    show(keyAt) {
      const entry = this.s.tape[this.s.pos];
      const seq = ++this.s.showSeq;
      this.release();
      if (!entry) {
        this.$refs.stage.replaceChildren();
        this.s.waitingKeyAt = keyAt ?? null;
        this.render();
        this.fetchMore();
        return;
      }
      this.s.waitingKeyAt = null;
      this.$refs.stage.replaceChildren(this.imageOf(entry));
      this.render();
      this.preload();
      entry.ready.then(() => {
        if (seq !== this.s.showSeq) return;
        // requestAnimationFrame runs just before the frame with the new image is painted; the timeout
        // runs after that paint, so the mark is when the image is on screen, not when it was inserted.
        requestAnimationFrame(() =>
          setTimeout(() => {
            if (seq !== this.s.showSeq) return;
            performance.mark("kiosk-shown", { detail: { imageId: entry.image.id, keyAt: keyAt ?? null } });
            this.shownId = entry.image.id;
          }, 0),
        );
      });
    },

    imageOf(entry) {
      if (!entry.img) {
        const img = new Image();
        img.className = "kiosk-image";
        img.alt = `Dataset image ${entry.image.id}`;
        img.draggable = false;
        img.dataset.imageId = String(entry.image.id);
        img.src = this.prefixed(entry.image.file_url);
        entry.img = img;
        entry.ready = img.decode().then(
          () => (entry.broken = false),
          () => (entry.broken = true),
        );
      }
      return entry.img;
    },

    preload() {
      let ahead = 0;
      let open = 0;
      for (let i = this.s.pos + 1; i < this.s.tape.length; i += 1) {
        const entry = this.s.tape[i];
        if (entry.status !== "open") continue;
        open += 1;
        if (ahead < PRELOAD_AHEAD) {
          this.imageOf(entry);
          ahead += 1;
        }
      }
      if (open < REFILL_BELOW) this.fetchMore();
    },

    release() {
      // Decoded images cost memory: keep only the ones around the current position.
      const low = this.s.pos - KEEP_BEHIND;
      const high = this.s.pos + PRELOAD_AHEAD * 2;
      this.s.tape.forEach((entry, i) => {
        if (entry.img && (i < low || i > high)) {
          entry.img = null;
          entry.ready = null;
        }
      });
    },

    render() {
      const entry = this.s.tape[this.s.pos];
      if (!entry) {
        this.skipped = this.s.tape.filter((e) => e.status === "skipped").length;
        this.view = { id: null, character: "", reference: null, status: "open", statusText: "", position: "", banner: "" };
        this.shownId = null;
        return;
      }
      const character = this.config.characters[String(entry.image.character_id)];
      let statusText = STATUS_TEXT[entry.status];
      if (entry.status === "rejected" && entry.label) statusText = `Rejected here: ${entry.label}`;
      let banner = "";
      if (entry.status === "taken") {
        const how = { approved: "Approved", rejected: "Rejected" }[entry.takenState] || "Decided";
        banner = `${how} on another station`;
      }
      else if (entry.broken) banner = "This image could not be loaded";
      this.view = {
        id: entry.image.id,
        character: character ? character.name : entry.image.character_id ? `Character ${entry.image.character_id}` : "No character",
        reference: character ? character.reference : null,
        status: entry.status,
        statusText,
        position: `Image ${this.s.pos + 1} in this session · #${entry.image.id}`,
        banner,
      };
    },

    // --- the queue ----------------------------------------------------------------------------------

    async fetchMore() {
      if (this.s.fetching || this.s.exhausted) return;
      this.s.fetching = true;
      let retry = false;
      try {
        const params = new URLSearchParams({
          project_id: this.config.project_id,
          after: this.s.cursor,
          limit: FETCH_LIMIT,
        });
        if (this.config.character_id != null) params.set("character_id", this.config.character_id);
        const response = await fetch(this.prefixed(`${this.config.api}/review/queue?${params}`), {
          headers: { Accept: "application/json" },
          credentials: "same-origin",
        });
        if (!response.ok) throw new Error(`the review queue answered ${response.status}`);
        const images = await response.json();
        for (const image of images) {
          this.s.cursor = Math.max(this.s.cursor, image.id);
          // Known already: held, taken by another station, or decided here before a reload.
          if (this.s.byId.has(image.id) || this.s.versions.has(image.id)) continue;
          const entry = { image, status: "open", categories: [], label: "", img: null, ready: null, broken: false };
          this.s.tape.push(entry);
          this.s.byId.set(image.id, entry);
          this.s.versions.set(image.id, image.version);
        }
        if (images.length < FETCH_LIMIT) {
          this.s.exhausted = true;
          if (!this.s.recheck) {
            this.s.recheck = this.later(() => {
              this.s.recheck = null;
              this.imagesArrived();
            }, RECHECK_MS);
          }
        }
      } catch (error) {
        console.warn("kiosk: could not load the review queue", error);
        retry = true;
      } finally {
        this.s.fetching = false;
        this.loading = false;
      }
      if (retry) {
        this.later(() => this.fetchMore(), QUEUE_RETRY_MS);
        return;
      }
      if (!this.view.id && this.s.tape[this.s.pos]) {
        // The station was waiting at the end (or just started): show what arrived.
        if (this.s.tape[this.s.pos].status !== "open") this.advance(this.s.waitingKeyAt);
        else this.show(this.s.waitingKeyAt);
      } else if (!this.s.exhausted && this.view.id) {
        this.preload();
      } else {
        this.render();
      }
    },

    // --- pushed by the server page ------------------------------------------------------------------

    taken(imageId, state, version) {
      // Another station (or an automatic check) decided an image this station holds.
      const entry = this.s.byId.get(imageId);
      if (!entry || entry.status === "taken" || this.decided(entry)) return;
      if (this.s.outbox.some((op) => op.imageId === imageId)) return; // our own decision on its way
      if (version <= (this.s.versions.get(imageId) ?? 0)) return; // our own, already answered
      const index = this.s.tape.indexOf(entry);
      if (index > this.s.pos) {
        this.s.tape.splice(index, 1); // not shown yet: it simply never appears
        this.s.byId.delete(imageId);
        this.preload();
        return;
      }
      entry.status = "taken";
      entry.takenState = state;
      if (index === this.s.pos) this.render();
    },

    imagesArrived() {
      this.s.exhausted = false;
      if (!this.view.id || this.s.tape.length - this.s.pos < REFILL_BELOW) this.fetchMore();
    },

    setPending(count) {
      this.pending = count;
    },

    // --- saving -------------------------------------------------------------------------------------

    enqueue(op) {
      this.s.outbox.push(op);
      this.persist();
      this.pump();
    },

    async pump() {
      if (this.s.pumping) return;
      this.s.pumping = true;
      try {
        while (this.s.outbox.length) {
          const op = this.s.outbox[0];
          this.s.inFlight = op;
          op.attempts = (op.attempts || 0) + 1;
          const outcome = await this.send(op);
          this.s.inFlight = null;
          if (outcome.retry) {
            this.failing = outcome.retry;
            const delay = RETRY_MS[Math.min(op.attempts - 1, RETRY_MS.length - 1)];
            await new Promise((resolve) => {
              this.s.wake = resolve;
              this.later(resolve, delay);
            });
            this.s.wake = null;
            continue;
          }
          this.failing = null;
          const at = this.s.outbox.indexOf(op);
          if (at >= 0) this.s.outbox.splice(at, 1);
          this.persist();
        }
      } finally {
        this.s.inFlight = null;
        this.s.pumping = false;
      }
    },

    async send(op) {
      let url;
      let body;
      if (op.kind === "decide") {
        url = `${this.config.api}/images/${op.imageId}/decision`;
        body = { state: op.state, version: this.s.versions.get(op.imageId), categories: op.categories };
      } else {
        const ids = this.s.decisionIds.get(op.imageId) || [];
        if (!ids.length) return { done: true }; // the decision never landed: nothing to undo
        url = `${this.config.api}/decisions/${ids[ids.length - 1]}/undo`;
      }
      let response;
      try {
        response = await fetch(this.prefixed(url), {
          method: "POST",
          headers: { "Content-Type": "application/json", Accept: "application/json" },
          body: body ? JSON.stringify(body) : undefined,
          credentials: "same-origin",
        });
      } catch (error) {
        return { retry: `the studio is unreachable (${error.message})` };
      }
      if (response.ok) {
        const answer = await response.json();
        if (op.kind === "decide") this.landed(op.imageId, answer.image.version, answer.decision.id);
        else {
          this.s.versions.set(op.imageId, answer.version);
          this.s.decisionIds.get(op.imageId).pop();
        }
        return { done: true };
      }
      if (response.status === 401 || response.status === 403) {
        return { retry: "the studio wants a new login: sign in again in another tab to save them" };
      }
      if (response.status >= 500 || RETRYABLE.has(response.status)) {
        return { retry: `the studio answered ${response.status}` };
      }
      const detail = await this.detailOf(response);
      if (response.status === 409) {
        if (op.kind === "decide" && op.attempts > 1 && (await this.claimLanded(op))) return { done: true };
        this.lost(op.imageId, op.kind === "decide" ? "Decided on another station — kept theirs" : "Not undone: the image changed on another station");
        return { done: true };
      }
      if (response.status === 404) {
        this.lost(op.imageId, `Image ${op.imageId} is gone: ${detail}`);
        return { done: true };
      }
      // 400/422: this station sent something the studio cannot accept; sending it again cannot help.
      console.error("kiosk: the studio refused", op, response.status, detail);
      this.say(`Not saved: ${detail}`);
      return { done: true };
    },

    landed(imageId, version, decisionId) {
      this.s.versions.set(imageId, version);
      if (!this.s.decisionIds.has(imageId)) this.s.decisionIds.set(imageId, []);
      this.s.decisionIds.get(imageId).push(decisionId);
    },

    async claimLanded(op) {
      // A retry after a lost answer: the first attempt may have been saved. If the image now carries
      // exactly that decision by this station, it is ours, not another station's.
      try {
        const sent = this.s.versions.get(op.imageId);
        const image = await (await fetch(this.prefixed(`${this.config.api}/images/${op.imageId}`))).json();
        if (image.version !== sent + 1 || image.approval_state !== op.state || image.decided_by !== this.config.actor) return false;
        const history = await (await fetch(this.prefixed(`${this.config.api}/images/${op.imageId}/decisions`))).json();
        const mine = history.filter((d) => d.actor === this.config.actor && d.state === op.state && !d.undone_at).pop();
        if (!mine) return false;
        this.landed(op.imageId, image.version, mine.id);
        return true;
      } catch (error) {
        console.warn("kiosk: could not check whether a retried decision had landed", error);
        return false;
      }
    },

    lost(imageId, message) {
      // Another station's decision stands: drop whatever else this station meant to send for the image.
      this.s.outbox = this.s.outbox.filter((op) => op.imageId !== imageId || op === this.s.inFlight);
      const entry = this.s.byId.get(imageId);
      if (entry) {
        if (this.decided(entry)) this.reviewed -= 1;
        entry.status = "taken";
        entry.takenState = null;
        this.s.history = this.s.history.filter((h) => h.entry !== entry);
        if (this.s.tape[this.s.pos] === entry) this.render();
      }
      this.say(message);
    },

    persist() {
      const ops = this.s.outbox.map(({ key, kind, imageId, state, categories }) => ({ key, kind, imageId, state, categories }));
      const ids = new Set(ops.map((op) => op.imageId));
      const versions = {};
      const decisionIds = {};
      for (const id of ids) {
        if (this.s.versions.has(id)) versions[id] = this.s.versions.get(id);
        if (this.s.decisionIds.has(id)) decisionIds[id] = this.s.decisionIds.get(id);
      }
      this.unsaved = ops.length;
      try {
        if (ops.length) sessionStorage.setItem(OUTBOX_KEY, JSON.stringify({ ops, versions, decisionIds }));
        else sessionStorage.removeItem(OUTBOX_KEY);
      } catch (error) {
        console.warn("kiosk: could not keep unsaved decisions for a reload", error);
      }
    },

    restoreOutbox() {
      let saved = null;
      try {
        saved = JSON.parse(sessionStorage.getItem(OUTBOX_KEY) || "null");
      } catch (error) {
        console.warn("kiosk: unreadable unsaved decisions from before the reload", error);
      }
      if (!saved?.ops?.length) return;
      for (const [id, version] of Object.entries(saved.versions || {})) this.s.versions.set(Number(id), version);
      for (const [id, list] of Object.entries(saved.decisionIds || {})) this.s.decisionIds.set(Number(id), list);
      this.s.opSeq = Math.max(...saved.ops.map((op) => op.key));
      // Any of them may have reached the studio just before the reload: treat them as retries, so a 409
      // is first checked against this station's own decision.
      this.s.outbox.push(...saved.ops.map((op) => ({ ...op, attempts: 1 })));
      this.persist();
      this.say(`Saving ${this.unsaved} decision(s) made before the reload`);
      this.pump();
    },

    // --- small things -------------------------------------------------------------------------------

    say(message) {
      this.toast = message;
      clearTimeout(this.s.toastTimer);
      this.s.toastTimer = this.later(() => (this.toast = ""), TOAST_MS);
    },

    later(callback, ms) {
      const timer = setTimeout(() => {
        this.s.timers.delete(timer);
        callback();
      }, ms);
      this.s.timers.add(timer);
      return timer;
    },

    async detailOf(response) {
      try {
        const body = await response.json();
        return typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
      } catch {
        return `HTTP ${response.status}`;
      }
    },

    prefixed(url) {
      return url && url.startsWith("/") ? (window.path_prefix || "") + url : url;
    },
  },
};
