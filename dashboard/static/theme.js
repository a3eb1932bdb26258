// Applies the saved theme before the page paints (loaded in <head>, not deferred).
(function () {
  try {
    var t = localStorage.getItem("dominion-theme");
    if (t === "light" || t === "dark") document.documentElement.setAttribute("data-theme", t);
  } catch (e) { /* storage disabled: follow the system */ }
})();
