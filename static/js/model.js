// Equity curves of a model's graded backtests, one line per grade set, from json_script.
(function () {
  const curves = JSON.parse(document.getElementById("curves-data").textContent);
  const LC = window.LightweightCharts;
  const chart = LC.createChart(document.getElementById("equity-chart"), {
    autoSize: true, layout: { attributionLogo: false, },
    timeScale: { timeVisible: true },
  });
  const colours = ["#f5c451", "#58a6ff", "#3fb950", "#bc8cff"];
  curves.forEach(({ name, curve }, i) => {
    if (!curve.length) return;
    chart.addSeries(LC.LineSeries, { color: colours[i % colours.length], lineWidth: 2, title: name })
      .setData(curve.map(([t, e]) => ({ time: t / 1000, value: e })));
  });
  chart.timeScale().fitContent();
})();
