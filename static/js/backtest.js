// Equity and drawdown charts of a backtest page, from the curve embedded by json_script.
(function () {
  const curve = JSON.parse(document.getElementById("curve-data").textContent);
  const LC = window.LightweightCharts;
  const options = { autoSize: true, layout: { attributionLogo: false }, timeScale: { timeVisible: true } };
  const equity = LC.createChart(document.getElementById("equity-chart"), options);
  equity.addSeries(LC.LineSeries, { color: "#1f6feb", lineWidth: 2 })
    .setData(curve.map(([t, e]) => ({ time: t / 1000, value: e })));
  const drawdown = LC.createChart(document.getElementById("drawdown-chart"), options);
  drawdown.addSeries(LC.AreaSeries, { lineColor: "#c53030", topColor: "rgba(197,48,48,0.05)", bottomColor: "rgba(197,48,48,0.4)", invertFilledArea: true })
    .setData(curve.map(([t, , d]) => ({ time: t / 1000, value: d * 100 })));
  equity.timeScale().fitContent();
  drawdown.timeScale().fitContent();
})();
