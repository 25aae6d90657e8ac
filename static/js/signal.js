// The detail chart: candles, the signals as markers, entry/stop/target lines. Drawn on page
// load and again whenever htmx swaps in another signal's detail.
(function () {
  const LC = window.LightweightCharts;
  let chart = null;
  function draw() {
    const holder = document.getElementById("price-chart");
    const source = document.getElementById("chart-data");
    if (!holder || !source) return;
    if (chart) { chart.remove(); chart = null; }
    const data = JSON.parse(source.textContent);
    chart = LC.createChart(holder, {
      autoSize: true,
      layout: { attributionLogo: false, background: { color: "#161b22" }, textColor: "#8b949e" },
      grid: { vertLines: { color: "#222933" }, horzLines: { color: "#222933" } },
      timeScale: { timeVisible: true },
    });
    const series = chart.addSeries(LC.CandlestickSeries, {
      upColor: "#3fb950", downColor: "#f85149", wickUpColor: "#3fb950", wickDownColor: "#f85149", borderVisible: false,
      priceFormat: { type: "price", precision: data.decimals, minMove: 10 ** -data.decimals },
    });
    series.setData(data.candles.map(([time, open, high, low, close]) => ({ time, open, high, low, close })));
    // The selected signal, and the other signals graded above C (C is most bars: clutter).
    const shown = data.markers.filter((m) => m.selected || m.grade !== "C");
    LC.createSeriesMarkers(series, shown.map((m) => ({
      time: m.time,
      position: m.direction === "long" ? "belowBar" : "aboveBar",
      shape: m.direction === "long" ? "arrowUp" : "arrowDown",
      color: m.selected ? "#58a6ff" : (m.direction === "long" ? "#3fb950" : "#f85149"),
      text: m.grade,
    })));
    const line = (price, color, title) => price !== null && series.createPriceLine({ price, color, title, lineWidth: 1, lineStyle: 2 });
    line(data.entry, "#8b949e", "entry");
    line(data.stop, "#f85149", "stop");
    line(data.target, "#3fb950", "target");
    if (data.range) {  // the forecast's 90 % range of the close at the horizon
      line(data.range[0], "#d29922", "90% low");
      line(data.range[1], "#d29922", "90% high");
    }
    chart.timeScale().fitContent();
  }
  document.addEventListener("DOMContentLoaded", draw);
  // A swapped-in detail brings an empty chart holder: draw into it.
  document.addEventListener("htmx:afterSettle", () => {
    const holder = document.getElementById("price-chart");
    if (holder && !holder.childElementCount) draw();
  });
})();
