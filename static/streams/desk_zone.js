// The desk's clock on lightweight-charts' axis, shared by the pages that draw with it.
// lightweight-charts draws times as UTC: deskZoneShift(tz) returns t -> t moved by the desk zone's
// offset at that instant (DST-safe), so the axis reads the desk's clock whatever the browser's zone.
(function () {
  "use strict";
  window.deskZoneShift = function (tz) {
    const fmt = new Intl.DateTimeFormat("en-US", { timeZone: tz, hourCycle: "h23", year: "numeric",
      month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
    const cache = new Map();
    return (t) => {
      const hour = Math.floor(t / 3600);
      if (!cache.has(hour)) {
        const p = Object.fromEntries(fmt.formatToParts(new Date(hour * 3600e3)).map((x) => [x.type, x.value]));
        cache.set(hour, (Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second) - hour * 3600e3) / 1e3);
      }
      return t + cache.get(hour);
    };
  };
})();
