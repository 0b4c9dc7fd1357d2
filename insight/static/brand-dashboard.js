// The brand dashboard's charts: reads the figures the server rendered into #dashboard-data (JSON, not
// executed) and draws each [data-chart] element with ECharts. No inline script: the page CSP allows
// scripts from our own origin only.
(function () {
  "use strict";
  var holder = document.getElementById("dashboard-data");
  if (!holder || !window.echarts) return;
  var data = JSON.parse(holder.textContent);
  var colors = ["#1f5eff", "#07c160", "#ff9f1a", "#9b59b6"];

  function money(value) {
    return data.money + Number(value).toFixed(2);
  }

  function optionFor(chart, narrow) {
    var category = {
      type: "category",
      data: chart.labels,
      axisTick: { alignWithLabel: true },
      axisLabel: { hideOverlap: true, width: narrow ? 72 : 120, overflow: "truncate" },
    };
    var value = {
      type: "value",
      minInterval: chart.money ? 0 : 1,
      axisLabel: chart.money ? { formatter: money } : {},
    };
    var series = chart.series.map(function (s) {
      return {
        name: s.name,
        type: chart.kind,
        data: s.data,
        smooth: false,
        showSymbol: false,
        barMaxWidth: 28,
        tooltip: chart.money ? { valueFormatter: money } : {},
      };
    });
    return {
      color: colors,
      animation: false,
      grid: { left: 8, right: 16, top: series.length > 1 ? 36 : 12, bottom: 8, containLabel: true },
      legend: series.length > 1 ? { top: 0, itemWidth: 14, itemHeight: 10 } : undefined,
      tooltip: { trigger: "axis", confine: true },
      xAxis: chart.horizontal ? value : category,
      yAxis: chart.horizontal ? Object.assign({ inverse: true }, category) : value,
      series: series,
    };
  }

  var charts = [];
  var elements = document.querySelectorAll("[data-chart]");
  for (var i = 0; i < elements.length; i++) {
    var el = elements[i];
    var chart = data.charts[el.getAttribute("data-chart")];
    if (!chart) continue;
    var instance = window.echarts.init(el, null, { renderer: "canvas" });
    instance.setOption(optionFor(chart, el.clientWidth < 420));
    charts.push(instance);
  }
  window.addEventListener("resize", function () {
    charts.forEach(function (c) {
      c.resize();
    });
  });
})();
