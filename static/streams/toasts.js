// Toasts on every live page: the notices live.js hands over as "live:notice" events (a fill, an
// order rejected with its reason, an account halted or resumed, the kill switch), rendered by the
// server (streams/rows/notice.html). A notice is shown once per page load, by its id; fills, halts
// and releases go after AUTO_DISMISS_MS (paused while the pointer or focus is on them), rejects and
// the kill switch stay until dismissed. The sound, a short beep made with WebAudio, is off until
// the user turns it on; the choice is kept in localStorage.
(function () {
  "use strict";
  const stack = document.getElementById("toast-stack");
  if (!stack) return;
  const toggle = document.getElementById("toast-sound");
  const SOUND_KEY = "tradeconsole.toasts.sound";
  const AUTO_DISMISS_MS = 8000;
  const MAX_PASSING = 5; // toasts that go by themselves: older ones leave at once when more arrive
  const seen = new Set();
  let audio = null;
  window.toastStats = { shown: 0, beeps: 0 };

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

  function dismiss(el) {
    clearTimeout(el._toastTimer);
    el.remove();
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
    stack.prepend(el);
    window.toastStats.shown += 1;
    if (el.dataset.sticky !== "1") {
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
