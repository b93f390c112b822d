// The Overview's stacked daily chart (Chart.js, served from /static: no CDN, works offline).
// The figures come from the page's JSON block as exact decimal strings; they become numbers only to be
// drawn. The same figures are in the table under the chart.
(function () {
  "use strict";
  var holder = document.getElementById("chart-data");
  var canvas = document.getElementById("daily-chart");
  if (!holder || !canvas || typeof Chart === "undefined") { return; }
  var data = JSON.parse(holder.textContent);
  var colors = ["#2563eb", "#d97706", "#059669", "#7c3aed", "#dc2626", "#0891b2", "#4b5563", "#db2777"];
  var names = Object.keys(data.series);
  var datasets = names.map(function (name, i) {
    return {
      label: name,
      data: data.series[name].map(Number),
      backgroundColor: colors[i % colors.length],
      borderWidth: 0,
      stack: "spend"
    };
  });
  var money = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" });
  new Chart(canvas, {
    type: "bar",
    data: { labels: data.days, datasets: datasets },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      interaction: { mode: "index", intersect: false },
      scales: {
        x: { stacked: true, ticks: { maxTicksLimit: 12, autoSkip: true } },
        y: { stacked: true, beginAtZero: true, ticks: { callback: function (v) { return money.format(v); } } }
      },
      plugins: {
        legend: { position: "bottom" },
        tooltip: { callbacks: { label: function (c) { return c.dataset.label + ": " + money.format(c.parsed.y); } } }
      }
    }
  });
})();
