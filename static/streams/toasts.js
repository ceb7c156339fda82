// Toasts on every live page: the notices live.js hands over as "live:notice" events (a fill, an
// order rejected with its reason, an account halted or resumed, the kill switch), rendered by the
// server (streams/rows/notice.html). A notice is shown once per page load, by its id; fills, halts
// and releases go after AUTO_DISMISS_MS (paused while the pointer or focus is on them), rejects and
// the kill switch stay until dismissed. At most MAX_STICKY sticky toasts are on screen: past them a
// reject (or a refused modify/cancel) is counted, not shown, in one "+N more rejects" toast that links
// to the blotter's rejected orders and can dismiss them all; dismissing a shown one brings the oldest
// counted one in. The sound, a short beep made with WebAudio, is off until the user turns it on; the
// choice is kept in localStorage.
//
// Screen readers: the stack itself is not a live region and the toasts carry no live role. Each
// toast's text is written once into one of two persistent, visually hidden regions (_toasts.html):
// #toast-urgent (role=alert) for the bad news (a reject, a halt, the kill switch), as the toasts' own
// role=alert was, #toast-polite (role=status) for the rest (a fill, a resume, a release). Why not the other patterns: a live region only speaks for changes made after
// it is in the page, so a toast inserted already carrying role=status is often silent, and one with
// role=alert inside an aria-live container is read twice (its own alert, then the container's
// addition); one live container alone would read every reject politely, the Dismiss buttons' labels
// with it, and each change of the "+N more" count. Toasts that are counted, not shown, are told once
// per burst as the count ("N more rejects not shown").
(function () {
  "use strict";
  const stack = document.getElementById("toast-stack");
  if (!stack) return;
  const toggle = document.getElementById("toast-sound");
  const SOUND_KEY = "tradeconsole.toasts.sound";
  const AUTO_DISMISS_MS = 8000;
  const MAX_PASSING = 5; // toasts that go by themselves: older ones leave at once when more arrive
  const MAX_STICKY = 5; // sticky toasts on screen; the kill switch's always shown, taking a place
  const PILED = new Set(["reject", "refused"]); // the sticky notices that can be counted instead of shown
  const TELL_MORE_MS = 1000; // the "N more" count is told once a burst is over
  const seen = new Set();
  const held = []; // rejects counted, not shown, oldest first: {el, event}
  const polite = document.getElementById("toast-polite");
  const urgent = document.getElementById("toast-urgent");
  let audio = null, more = null, tellTimer = null;
  // shown: notices received (each id once, on screen or counted); held: those counted, not shown.
  window.toastStats = { shown: 0, beeps: 0, held: 0 };

  let unsaved = false; // the choice, where localStorage is refused (a private window)

  function soundOn() {
    try { return localStorage.getItem(SOUND_KEY) === "on"; } catch (err) { return unsaved; }
  }

  function setSound(on) {
    try { localStorage.setItem(SOUND_KEY, on ? "on" : "off"); } catch (err) { unsaved = on; }
  }

  function showToggle() {
    if (!toggle) return;
    const on = soundOn();
    toggle.setAttribute("aria-pressed", on ? "true" : "false");
    toggle.textContent = on ? "Sound on" : "Sound off";
  }

  // Browsers start an AudioContext suspended until the user has touched the page: made or resumed
  // on a click or a key, so the first notice after that is heard.
  function wakeAudio() {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return null;
    try {
      audio = audio || new Context();
      if (audio.state === "suspended") audio.resume();
    } catch (err) { audio = null; }
    return audio;
  }

  function beep(level) {
    if (!soundOn() || !wakeAudio()) return;
    try {
      const now = audio.currentTime;
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = "sine";
      osc.frequency.value = level === "bad" ? 440 : 880;
      gain.gain.setValueAtTime(0.0001, now);
      gain.gain.exponentialRampToValueAtTime(0.2, now + 0.01);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + 0.18);
      osc.connect(gain).connect(audio.destination);
      osc.start(now);
      osc.stop(now + 0.2);
      window.toastStats.beeps += 1;
    } catch (err) { /* no audio output: the toast is shown all the same */ }
  }

  // Says ``text`` once: a new node in a region that was in the page from the start; the region
  // keeps the last few only (removals are not read).
  function tell(region, text) {
    if (!region || !text) return;
    const p = document.createElement("p");
    p.textContent = text;
    region.append(p);
    while (region.childElementCount > 3) region.firstElementChild.remove();
  }

  function toastText(el) {
    const part = (sel) => (el.querySelector(sel) || { textContent: "" }).textContent.trim();
    return [part(".toast-title"), part(".toast-text")].filter(Boolean).join(": ");
  }

  // A toast is told once, however often it comes back on screen (held back past the cap, brought in).
  function tellToast(el) {
    if (el._toastTold) return;
    el._toastTold = true;
    tell(el.dataset.level === "bad" ? urgent : polite, toastText(el));
  }

  function stickyShown() {
    return stack.querySelectorAll('.toast[data-sticky="1"]:not(.toast-more)').length;
  }

  function plural(n, one, many) { return n + " " + (n === 1 ? one : many); }

  // The "+N more rejects" toast: made at the first reject counted, gone when none is.
  function showMore() {
    window.toastStats.held = held.length;
    if (!held.length) {
      if (more) more.remove();
      more = null;
      clearTimeout(tellTimer);
      return;
    }
    if (!more) {
      more = document.createElement("li");
      more.id = "toast-more";
      more.className = "toast toast-bad toast-sticky toast-more";
      more.dataset.event = "more";
      more.dataset.level = "bad";
      more.dataset.sticky = "1";
      const body = document.createElement("div");
      body.className = "toast-body";
      const title = document.createElement("strong");
      title.className = "toast-title";
      const text = document.createElement("p");
      text.className = "toast-text";
      const actions = document.createElement("p");
      actions.className = "toast-actions";
      const link = document.createElement("a");
      link.className = "toast-more-link";
      link.href = document.getElementById("toasts").dataset.rejectedUrl || "/live/orders/?status=REJECTED";
      link.textContent = "Rejected orders in the blotter";
      const all = document.createElement("button");
      all.type = "button";
      all.className = "toast-dismiss-all";
      all.textContent = "Dismiss all";
      actions.append(link, " ", all);
      body.append(title, text, actions);
      more.append(body);
      stack.append(more);
      beep("bad");
    }
    const rejects = held.filter((h) => h.event === "reject").length;
    const refused = held.length - rejects;
    more.querySelector(".toast-title").textContent = "+" + held.length + " more " + (held.length === 1 ? "reject" : "rejects");
    more.querySelector(".toast-text").textContent = "Not shown here: " + plural(rejects, "order rejected", "orders rejected")
      + (refused ? ", " + plural(refused, "modify or cancel refused", "modifies or cancels refused") : "") + ".";
    more.querySelector(".toast-dismiss-all").setAttribute("aria-label", "Dismiss all rejects, shown and not shown");
    clearTimeout(tellTimer);
    tellTimer = setTimeout(() => tell(polite, plural(held.length, "more reject", "more rejects") + " not shown"), TELL_MORE_MS);
  }

  function shownPiled() {
    return Array.from(stack.querySelectorAll(".toast")).filter((el) => PILED.has(el.dataset.event));
  }

  // A reject held back comes in while there is room (a shown one was dismissed, a kill switch's
  // went): the oldest held, above the shown rejects, which are all older than any held one.
  function bringHeld() {
    let brought = false;
    while (held.length && stickyShown() < MAX_STICKY) {
      const { el } = held.shift();
      const top = shownPiled()[0];
      stack.insertBefore(el, top || more);
      tellToast(el);
      brought = true;
    }
    if (brought) showMore();
  }

  // Past the cap (a kill switch's toast came in, always shown): the newest shown reject goes back
  // to the front of the held ones, so the count stays exact and the order kept.
  function holdOverflow() {
    let moved = false;
    while (stickyShown() > MAX_STICKY) {
      const newest = shownPiled().reduce((a, b) => (b._toastSeq > (a ? a._toastSeq : -1) ? b : a), null);
      if (!newest) break;
      newest.remove();
      held.unshift({ el: newest, event: newest.dataset.event });
      moved = true;
    }
    if (moved) showMore();
  }

  function dismiss(el) {
    if (!el) return;
    clearTimeout(el._toastTimer);
    el.remove();
    if (el.dataset.sticky === "1") bringHeld();
  }

  function dismissAll() {
    held.length = 0;
    stack.querySelectorAll(".toast").forEach((el) => {
      if (PILED.has(el.dataset.event)) el.remove();
    });
    showMore();
  }

  function arm(el) {
    clearTimeout(el._toastTimer);
    el._toastTimer = setTimeout(() => dismiss(el), AUTO_DISMISS_MS);
  }

  function show(notice) {
    if (!notice || !notice.id || seen.has(notice.id)) return;
    seen.add(notice.id);
    const tpl = document.createElement("template");
    tpl.innerHTML = (notice.html || "").trim();
    const el = tpl.content.firstElementChild;
    if (!el) return;
    window.toastStats.shown += 1;
    el._toastSeq = window.toastStats.shown;
    const sticky = el.dataset.sticky === "1";
    if (sticky && PILED.has(el.dataset.event) && (held.length || stickyShown() >= MAX_STICKY)) {
      held.push({ el, event: el.dataset.event });
      showMore();
      return;
    }
    stack.prepend(el);
    tellToast(el);
    if (sticky) holdOverflow();
    if (!sticky) {
      arm(el);
      el.addEventListener("mouseenter", () => clearTimeout(el._toastTimer));
      el.addEventListener("focusin", () => clearTimeout(el._toastTimer));
      el.addEventListener("mouseleave", () => arm(el));
      el.addEventListener("focusout", () => arm(el));
      const passing = stack.querySelectorAll('.toast:not([data-sticky="1"])');
      for (let i = MAX_PASSING; i < passing.length; i++) dismiss(passing[i]);
    }
    beep(el.dataset.level);
  }

  stack.addEventListener("click", (ev) => {
    if (ev.target.closest(".toast-dismiss-all")) { dismissAll(); return; }
    const button = ev.target.closest(".toast-dismiss");
    if (button) dismiss(button.closest(".toast"));
  });
  document.addEventListener("live:notice", (ev) => show(ev.detail));
  if (toggle) {
    toggle.addEventListener("click", () => {
      const on = !soundOn();
      setSound(on);
      showToggle();
      if (on) beep("ok");
    });
  }
  document.addEventListener("pointerdown", () => { if (soundOn()) wakeAudio(); }, { once: true });
  document.addEventListener("keydown", () => { if (soundOn()) wakeAudio(); }, { once: true });
  showToggle();
})();
