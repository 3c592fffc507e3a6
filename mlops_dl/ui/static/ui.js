/* mlops-dl UI: draws the Vega-Lite specs embedded in the page (also in htmx-swapped parts)
   and keeps the token typed in the header for the browser tab's session. */
(function () {
  "use strict";
  function drawCharts(root) {
    root.querySelectorAll('script[type="application/json"][data-chart]').forEach(function (s) {
      var el = document.getElementById(s.dataset.chart);
      if (!el || el.dataset.drawn) return;
      el.dataset.drawn = "1";
      vegaEmbed(el, JSON.parse(s.textContent), {actions: false, renderer: "svg", mode: "vega-lite"})
        .then(function () { el.dataset.rendered = "1"; })
        .catch(function (e) { el.textContent = "chart failed: " + e; console.error(e); });
    });
  }
  function keepToken() {
    var input = document.getElementById("ui-token");
    if (!input || input.dataset.kept) return;
    input.dataset.kept = "1";
    input.value = sessionStorage.getItem("mlops-dl-ui-token") || "";
    input.addEventListener("input", function () {
      sessionStorage.setItem("mlops-dl-ui-token", input.value);
    });
  }
  htmx.onLoad(function (root) {
    drawCharts(root);
    keepToken();
  });
})();
