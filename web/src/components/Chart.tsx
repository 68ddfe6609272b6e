import { fmtNs } from '../api'

export interface Series {
  name: string
  color: string
  /** [unix ms, value in ns] — null values are gaps. */
  points: [number, number | null][]
}

/** A point in time marked on a chart (a fill): a dot on the first series' line there. */
export interface Mark {
  /** Unix ms. */
  t: number
  color: string
  /** Shown on hover. */
  title: string
}

/** A time series line chart in SVG (log-free linear axis from 0 to the largest value). */
export function Chart({
  series,
  height = 220,
  label,
  fmt = fmtNs,
  zero = true,
  testId = 'latency-chart',
  marks = [],
}: {
  series: Series[]
  height?: number
  label: string
  /** Axis labels (default: nanoseconds). */
  fmt?: (v: number) => string
  /** Whether the axis starts at 0 (else at the smallest value). */
  zero?: boolean
  /** The SVG's `data-testid`. */
  testId?: string
  /** Times to mark on the first series (those outside its time range are left out). */
  marks?: readonly Mark[]
}) {
  const width = 760
  const pad = { l: 70, r: 12, t: 12, b: 24 }
  const all = series.flatMap((s) => s.points)
  const values = all.map((p) => p[1]).filter((v): v is number => v !== null)
  const ts = all.map((p) => p[0])
  const t0 = Math.min(...ts)
  const t1 = Math.max(...ts)
  const hi = values.length ? Math.max(...values) : 1
  const lo = values.length ? Math.min(...values) : 0
  const vmin = zero ? 0 : lo - (hi - lo) * 0.1 - (hi === lo ? Math.abs(hi) * 0.001 : 0)
  const vmax = zero ? hi * 1.1 : hi + (hi - lo) * 0.1 + (hi === lo ? Math.abs(hi) * 0.001 : 0)
  const x = (t: number) => pad.l + ((t - t0) / Math.max(1, t1 - t0)) * (width - pad.l - pad.r)
  const y = (v: number) => pad.t + (1 - (v - vmin) / (vmax - vmin || 1)) * (height - pad.t - pad.b)
  const pointCount = values.length
  // Each mark sits on the first series' value nearest in time (within its range).
  const line = (series[0]?.points ?? []).filter((p): p is [number, number] => p[1] !== null)
  const shownMarks = line.length
    ? marks.flatMap((m) => {
        if (m.t < line[0][0] || m.t > line[line.length - 1][0]) return []
        let near = line[0]
        for (const p of line) if (Math.abs(p[0] - m.t) < Math.abs(near[0] - m.t)) near = p
        return [{ ...m, v: near[1] }]
      })
    : []
  return (
    <figure className="chart" aria-label={label}>
      <svg
        viewBox={`0 0 ${width} ${height}`}
        role="img"
        data-testid={testId}
        data-points={pointCount}
        data-marks={shownMarks.length}
      >
        {[0, 0.25, 0.5, 0.75, 1].map((f) => {
          const v = vmin + (vmax - vmin) * f
          return (
            <g key={f}>
              <line x1={pad.l} x2={width - pad.r} y1={y(v)} y2={y(v)} className="grid" />
              <text x={pad.l - 6} y={y(v) + 4} textAnchor="end" className="axis">
                {fmt(v)}
              </text>
            </g>
          )
        })}
        {ts.length > 0 && (
          <>
            <text x={pad.l} y={height - 6} className="axis">
              {new Date(t0).toLocaleTimeString()}
            </text>
            <text x={width - pad.r} y={height - 6} textAnchor="end" className="axis">
              {new Date(t1).toLocaleTimeString()}
            </text>
          </>
        )}
        {series.map((s) => {
          // Gaps split the line into segments.
          const segments: string[] = []
          let cur: string[] = []
          for (const [t, v] of s.points) {
            if (v === null) {
              if (cur.length) segments.push(cur.join(' '))
              cur = []
            } else cur.push(`${x(t).toFixed(1)},${y(v).toFixed(1)}`)
          }
          if (cur.length) segments.push(cur.join(' '))
          return segments.map((pts, i) =>
            pts.includes(' ') ? (
              <polyline key={`${s.name}${i}`} points={pts} fill="none" stroke={s.color} strokeWidth={1.6} />
            ) : (
              <circle key={`${s.name}${i}`} cx={pts.split(',')[0]} cy={pts.split(',')[1]} r={2} fill={s.color} />
            ),
          )
        })}
        {shownMarks.map((m, i) => (
          <circle key={`mark${i}`} cx={x(m.t)} cy={y(m.v)} r={4} fill="none" stroke={m.color} strokeWidth={2} className="mark">
            <title>{m.title}</title>
          </circle>
        ))}
      </svg>
      <figcaption>
        {series.map((s) => (
          <span key={s.name} className="legend">
            <i style={{ background: s.color }} /> {s.name}
          </span>
        ))}
        {pointCount === 0 && <span className="muted"> no samples in this range yet</span>}
      </figcaption>
    </figure>
  )
}
