// A track record's equity curves (equal weight across symbols), from the json_script data.
(function () {
  const data = document.getElementById("curve-data");
  const box = document.getElementById("simulation-chart");
  if (!data || !box) return;
  const LC = window.LightweightCharts;
  const chart = LC.createChart(box, { autoSize: true, layout: { attributionLogo: false }, timeScale: { timeVisible: true, minBarSpacing: 0.01 } });
  for (const curve of JSON.parse(data.textContent)) {
    chart.addSeries(LC.LineSeries, { color: curve.color, lineWidth: 2, title: curve.name })
      .setData(curve.points.map(([t, v]) => ({ time: t / 1000, value: v })));
  }
  chart.timeScale().fitContent();
})();
