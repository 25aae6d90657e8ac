// The analysis chart: candles, EMA 50/200, Bollinger bands, the regime shaded behind the
// candles (a full-height histogram on its own hidden scale), and the symbol's signals as
// markers, read from the signals API with the page's session.
(function () {
  const LC = window.LightweightCharts;
  const holder = document.getElementById("analysis-chart");
  const source = document.getElementById("analysis-data");
  if (!holder || !source) return;
  const data = JSON.parse(source.textContent);
  const REGIME = { TRENDING: "rgba(46,160,67,0.16)", RANGING: "rgba(88,166,255,0.12)", CHOPPY: "rgba(210,153,34,0.16)" };
  const chart = LC.createChart(holder, {
    autoSize: true,
    layout: { attributionLogo: false, background: { color: "#161b22" }, textColor: "#8b949e" },
    grid: { vertLines: { color: "#222933" }, horzLines: { color: "#222933" } },
    timeScale: { timeVisible: true },
  });
  const regime = chart.addSeries(LC.HistogramSeries, { priceScaleId: "regime", priceLineVisible: false, lastValueVisible: false });
  chart.priceScale("regime").applyOptions({ visible: false, scaleMargins: { top: 0, bottom: 0 } });
  regime.setData(data.regime.map(([time, name]) => ({ time, value: 1, color: REGIME[name] || "rgba(0,0,0,0)" })));
  const candles = chart.addSeries(LC.CandlestickSeries, {
    upColor: "#3fb950", downColor: "#f85149", wickUpColor: "#3fb950", wickDownColor: "#f85149", borderVisible: false,
    priceFormat: { type: "price", precision: data.decimals, minMove: 10 ** -data.decimals },
  });
  candles.setData(data.candles.map(([time, open, high, low, close]) => ({ time, open, high, low, close })));
  const line = (points, color, style) => chart.addSeries(LC.LineSeries, {
    color, lineWidth: 1, lineStyle: style || 0, priceLineVisible: false, lastValueVisible: false, crosshairMarkerVisible: false,
  }).setData(points.map(([time, value]) => ({ time, value })));
  line(data.ema_50, "#d29922");
  line(data.ema_200, "#a371f7");
  line(data.bb_upper, "#58a6ff", 2);
  line(data.bb_middle, "rgba(88,166,255,0.5)", 2);
  line(data.bb_lower, "#58a6ff", 2);
  chart.timeScale().fitContent();
  const markers = LC.createSeriesMarkers(candles, []);
  const first = data.candles.length ? data.candles[0][0] : 0;
  const status = document.getElementById("marker-status");
  const every = document.getElementById("every-prediction");
  async function load() {
    const url = holder.dataset.signals + (every.checked ? "" : "&actionable=true");
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      const body = await response.json();
      if (!response.ok) throw new Error(body.error ? body.error.message : response.statusText);
      const items = body.data.items
        .map((s) => ({ ...s, time: Date.parse(s.open_time) / 1000 }))
        .filter((s) => s.time >= first)
        .sort((a, b) => a.time - b.time);
      markers.setMarkers(items.map((s) => ({
        time: s.time,
        position: s.direction === "long" ? "belowBar" : "aboveBar",
        shape: s.direction === "long" ? "arrowUp" : "arrowDown",
        color: s.actionable ? (s.direction === "long" ? "#3fb950" : "#f85149") : "#6e7681",
        text: s.grade,
      })));
      status.textContent = items.length + (every.checked ? " predictions" : " actionable signals") + " on the chart";
      holder.dataset.markers = String(items.length);
    } catch (error) {
      status.textContent = "signals could not be loaded: " + error.message;
    }
  }
  every.addEventListener("change", load);
  load();
})();
