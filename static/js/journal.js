// The journal's equity curve: cumulative PnL of executed trades, from json_script.
(function () {
  const points = JSON.parse(document.getElementById("journal-equity").textContent);
  const holder = document.getElementById("equity-chart");
  if (!points.length) { holder.textContent = "No closed executed trade yet."; return; }
  const LC = window.LightweightCharts;
  const chart = LC.createChart(holder, { autoSize: true, layout: { attributionLogo: false, background: { color: "#161b22" }, textColor: "#8b949e" }, grid: { vertLines: { color: "#222933" }, horzLines: { color: "#222933" } } });
  const seen = new Set();
  const data = points.map(([t, pnl]) => ({ time: Math.floor(Date.parse(t) / 1000), value: pnl }))
    .filter((p) => !seen.has(p.time) && seen.add(p.time));  // one point per second
  chart.addSeries(LC.LineSeries, { color: "#58a6ff", lineWidth: 2 }).setData(data);
  chart.timeScale().fitContent();
})();
