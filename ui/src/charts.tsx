/** Small inline SVG charts: a line over time and a bar histogram. No library; labelled for screen readers. */

export interface Point {
  at: string;
  value: number | null;
}

const W = 480;
const H = 140;
const PAD = { l: 40, r: 10, t: 10, b: 22 };

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

export function LineChart({ title, points, unit = '' }: { title: string; points: Point[]; unit?: string }) {
  const vals = points.map((p) => p.value).filter((v): v is number => v !== null);
  const max = niceMax(Math.max(0, ...vals));
  const t0 = points.length ? Date.parse(points[0].at) : 0;
  const t1 = points.length ? Date.parse(points[points.length - 1].at) : 1;
  const x = (at: string) => PAD.l + ((Date.parse(at) - t0) / Math.max(1, t1 - t0)) * (W - PAD.l - PAD.r);
  const y = (v: number) => H - PAD.b - (v / max) * (H - PAD.t - PAD.b);
  let d = '';
  let pen = false;
  for (const p of points) {
    if (p.value === null) {
      pen = false;
      continue;
    }
    d += `${pen ? 'L' : 'M'}${x(p.at).toFixed(1)},${y(p.value).toFixed(1)} `;
    pen = true;
  }
  const last = vals.length ? vals[vals.length - 1] : null;
  const hhmm = (ms: number) => new Date(ms).toTimeString().slice(0, 5);
  return (
    <figure className="chart">
      <svg
        viewBox={`0 0 ${W} ${H}`}
        role="img"
        aria-label={`${title}: ${points.length ? `${points.length} samples, latest ${last ?? 'none'}${unit}` : 'no samples yet'}`}
      >
        <line x1={PAD.l} y1={H - PAD.b} x2={W - PAD.r} y2={H - PAD.b} className="axis" />
        <line x1={PAD.l} y1={PAD.t} x2={PAD.l} y2={H - PAD.b} className="axis" />
        <text x={PAD.l - 4} y={PAD.t + 8} textAnchor="end" className="tick">
          {max}
          {unit}
        </text>
        <text x={PAD.l - 4} y={H - PAD.b} textAnchor="end" className="tick">
          0
        </text>
        {points.length > 1 ? (
          <>
            <text x={PAD.l} y={H - 6} className="tick">
              {hhmm(t0)}
            </text>
            <text x={W - PAD.r} y={H - 6} textAnchor="end" className="tick">
              {hhmm(t1)}
            </text>
          </>
        ) : null}
        {d ? <path d={d} className="line" /> : null}
        {points.map((p, i) =>
          // a value with no value either side draws no line: a dot shows it
          p.value !== null && points[i - 1]?.value == null && points[i + 1]?.value == null ? (
            <circle key={p.at} cx={points.length === 1 ? PAD.l + 4 : x(p.at)} cy={y(p.value)} r={3} className="dot">
              <title>{`${new Date(p.at).toTimeString().slice(0, 5)}: ${p.value}${unit}`}</title>
            </circle>
          ) : null,
        )}
      </svg>
      <figcaption>{title}</figcaption>
    </figure>
  );
}

export function BarChart({ title, bars, unit = '' }: { title: string; bars: Array<{ label: string; value: number }>; unit?: string }) {
  const max = niceMax(Math.max(0, ...bars.map((b) => b.value)));
  const bw = bars.length ? (W - PAD.l - PAD.r) / bars.length : 0;
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${title}: ${bars.map((b) => `${b.label} ${b.value}${unit}`).join(', ') || 'no data yet'}`}>
        <line x1={PAD.l} y1={H - PAD.b} x2={W - PAD.r} y2={H - PAD.b} className="axis" />
        <text x={PAD.l - 4} y={PAD.t + 8} textAnchor="end" className="tick">
          {max}
        </text>
        {bars.map((b, i) => {
          const h = (b.value / max) * (H - PAD.t - PAD.b);
          return (
            <g key={b.label}>
              <rect x={PAD.l + i * bw + 2} y={H - PAD.b - h} width={Math.max(1, bw - 4)} height={h} className="bar">
                <title>{`${b.label}: ${b.value}`}</title>
              </rect>
              {bars.length <= 8 || i % 2 === 0 ? (
                <text x={PAD.l + i * bw + bw / 2} y={H - 6} textAnchor="middle" className="tick">
                  {b.label}
                </text>
              ) : null}
            </g>
          );
        })}
      </svg>
      <figcaption>{title}</figcaption>
    </figure>
  );
}

/** A progress bar with its numbers. */
export function Progress({ done, total, label }: { done: number; total: number; label: string }) {
  return (
    <span className="progress-wrap">
      <progress value={done} max={Math.max(1, total)} aria-label={label} /> {done}/{total}
    </span>
  );
}
