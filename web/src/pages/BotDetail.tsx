import { useEffect, useMemo, useState } from 'react'
import { ApiError, call, can, fmtNs, fmtStatus, fmtUsd, isBotMessage, isLogLine, isRecord, type BotData, type Role } from '../api'
import { Chart } from '../components/Chart'
import { ConfirmButton } from '../components/Confirm'
import { Table, type Column } from '../components/Table'
import { canonical, diffLines } from '../diff'
import type { ConfigVersion, LatencyPoint, LogLine, NodeBotStatus, Percentiles } from '../generated/api'
import { ACTIONS_FROM, type BotAction, type BotMetrics } from '../generated/protocol'
import { useApi, useStream } from '../hooks'
import { EnvPill } from './Fleet'
import { fmtBuild } from './Rollouts'
import { outputsOf } from '../outputs'
import { go } from '../router'
import { statusClass } from './Fleet'
import { PortfolioPanel } from './PortfolioPanel'
import { ReplicasPanel } from './ReplicasPanel'
import { CrossChainPanel, MlPanel } from './OutputsPanels'
import { TradesPanel } from './TradesPanel'
import { cloneOf, handToEditor } from '../configImport'

/** Types that watch and book no trades of their own. */
const OBSERVER_TYPES = ['ml_analytics', 'portfolio_manager', 'real_time_dashboard']

const RANGES: Record<string, { ms: number; refresh: number }> = {
  '5 min': { ms: 5 * 60_000, refresh: 2_000 },
  '1 h': { ms: 3_600_000, refresh: 10_000 },
  '24 h': { ms: 86_400_000, refresh: 60_000 },
}

/** A bot's counters as it wrote them (a field may be missing from an older or newer bot). */
function metricsOf(v: unknown): Partial<BotMetrics> {
  return isRecord(v) ? (v as Partial<BotMetrics>) : {}
}

export function BotDetail({ id, role }: { id: string; role: Role }) {
  const { data: bot, error: loadError, reload } = useApi('GET /api/v1/bots/{bot_id}', { params: { bot_id: id } })
  const [actError, setActError] = useState('')
  const [notice, setNotice] = useState('')
  const [live, setLive] = useState<BotData | null>(null)
  useStream('metrics', [`bot:${id}`], (m) => {
    if (isBotMessage(m, id) && m.data) setLive(m.data)
  })
  const error = actError || loadError
  const act = async (action: BotAction) => {
    try {
      await call('POST /api/v1/bots/{bot_id}/{action}', { params: { bot_id: id, action } })
      setNotice(`${action} requested`)
      setActError('')
      await reload()
    } catch (e) {
      setActError(e instanceof ApiError ? e.message : String(e))
    }
  }
  if (!bot) return <main>{error ? <div className="error">{error}</div> : <p className="muted">Loading…</p>}</main>
  const desired = live?.desired_state ?? bot.bot.desired_state
  const reported = live?.reported
  const status = fmtStatus(reported?.status)
  const metrics = metricsOf(reported?.metrics)
  const outputs = outputsOf(reported?.status?.outputs)
  return (
    <main>
      <header className="page-head">
        <h2>{id}</h2>
        <span className="muted">
          <EnvPill env={bot.bot.environment} /> {bot.bot.bot_type} on {bot.bot.node_id || 'no node yet'}
          {bot.bot.cores.length > 0 && ` (cores ${bot.bot.cores.join(',')})`} · config v{bot.bot.config_version}
        </span>
        {bot.bot.pending && (
          <span className="pill warn" data-testid="pending">
            pending: {bot.bot.pending}
          </span>
        )}
        <span className={`pill ${statusClass(status)}`} data-testid="bot-status">
          {status}
        </span>
        <span className="muted" data-testid="desired">
          desired: {desired}
        </span>
        {typeof reported?.status?.config_version === 'number' && (
          <span className="muted" data-testid="applied-version">
            running config v{reported.status.config_version}
          </span>
        )}
        <span className="grow" />
        {can(role, 'operator') && (
          <div className="row" data-testid="bot-actions">
            {(ACTIONS_FROM[desired] ?? []).map((a) => (
              <ConfirmButton
                key={a}
                label={a[0].toUpperCase() + a.slice(1)}
                danger={a === 'stop'}
                question={
                  <>
                    {a[0].toUpperCase() + a.slice(1)} bot <b>{id}</b>?
                  </>
                }
                onConfirm={() => act(a)}
              />
            ))}
            {!bot.bot.replica_of && <button onClick={() => go('bots', id, 'edit')}>Edit config</button>}
            {!bot.bot.replica_of && bot.config && (
              <button
                onClick={() => {
                  if (bot.config) handToEditor(cloneOf(bot.config.body as unknown as Record<string, unknown>))
                  go('bots', 'new')
                }}
              >
                Clone
              </button>
            )}
            {desired === 'stopped' && !bot.bot.replica_of && (
              <ConfirmButton
                label="Delete"
                danger
                question={<>Delete bot <b>{id}</b>{bot.bot.placement.replicas > 1 && ' with its replicas'}? Its configuration history stays.</>}
                onConfirm={async () => {
                  await call('DELETE /api/v1/bots/{bot_id}', { params: { bot_id: id } })
                  go('')
                }}
              />
            )}
          </div>
        )}
      </header>
      {error && (
        <div className="error" role="alert">
          {error}
        </div>
      )}
      {notice && <div className="notice">{notice}</div>}
      <HandoverLine status={reported?.status} />
      <ReplicasPanel bot={bot.bot} role={role} onChanged={() => void reload()} />
      {outputs.portfolio && <PortfolioPanel book={outputs.portfolio} />}
      {outputs.ml && <MlPanel ml={outputs.ml} />}
      {outputs.cross_chain && <CrossChainPanel cc={outputs.cross_chain} />}
      {outputs.market && (
        <p>
          This bot publishes the market view: see the <a href="#/market">market page</a>.
        </p>
      )}
      <LatencyPanel id={id} />
      {!OBSERVER_TYPES.includes(bot.bot.bot_type) && <TradesPanel botId={id} />}
      <section className="cols">
        <div>
          <h3>Metrics</h3>
          <table className="kv" data-testid="metrics">
            <tbody>
              <Kv k="trades executed" v={metrics.trades_executed ?? '—'} />
              <Kv k="profit" v={fmtUsd(metrics.profit_usd)} />
              <Kv k="success rate" v={typeof metrics.success_rate === 'number' ? `${(metrics.success_rate * 100).toFixed(1)} %` : '—'} />
              <Kv k="uptime" v={metrics.uptime_seconds !== undefined ? `${metrics.uptime_seconds} s` : '—'} />
              <Kv k="cpu" v={typeof metrics.cpu_usage === 'number' ? `${metrics.cpu_usage.toFixed(1)} %` : '—'} />
              <Kv k="memory" v={typeof metrics.memory_usage === 'number' ? `${(metrics.memory_usage / 1048576).toFixed(1)} MiB` : '—'} />
              {Object.entries(metrics.custom_metrics ?? {}).map(([k, v]) => (
                <Kv key={k} k={k} v={typeof v === 'number' ? Number(v.toFixed(6)) : JSON.stringify(v)} />
              ))}
            </tbody>
          </table>
        </div>
        <div>
          <h3>Configuration</h3>
          <ConfigHistory id={bot.bot.replica_of ?? id} latest={bot.bot.config_version} />
        </div>
      </section>
      <LogTail key={id} id={id} />
    </main>
  )
}

function Kv({ k, v }: { k: string; v: unknown }) {
  return (
    <tr>
      <th>{k}</th>
      <td>{String(v)}</td>
    </tr>
  )
}

const POINT_SERIES = [
  ['p50', '#4caf50'],
  ['p99', '#ff9800'],
  ['p999', '#e91e63'],
] as const

const totalColumns = (range: string): Column<{ stage: string; total: Percentiles }>[] => [
  { header: `Stage (${range})`, cell: (r) => r.stage },
  { header: 'count', className: 'num', cell: (r) => r.total.count },
  { header: 'p50', className: 'num', cell: (r) => fmtNs(r.total.p50) },
  { header: 'p90', className: 'num', cell: (r) => fmtNs(r.total.p90) },
  { header: 'p99', className: 'num', cell: (r) => fmtNs(r.total.p99) },
  { header: 'p99.9', className: 'num', cell: (r) => fmtNs(r.total.p999) },
  { header: 'max', className: 'num', cell: (r) => fmtNs(r.total.max) },
]

function LatencyPanel({ id }: { id: string }) {
  const [range, setRange] = useState('5 min')
  const [stage, setStage] = useState<string>('')
  const step = range === '5 min' ? 1_000 : range === '1 h' ? 60_000 : 300_000
  // The range ends now at each fetch.
  const { data, error } = useApi(
    'GET /api/v1/latency',
    { query: { scope: `bot:${id}`, step_ms: step } },
    {
      intervalMs: RANGES[range].refresh,
      fresh: (args) => {
        const to = Date.now()
        return { ...args, query: { ...args.query, from: to - RANGES[range].ms, to } }
      },
    },
  )
  const stages = Object.keys(data?.stages ?? {})
  const shown = stage && stages.includes(stage) ? stage : (stages.find((s) => s === 'decided') ?? stages[0])
  const points: LatencyPoint[] = (shown ? data?.stages[shown]?.points : undefined) ?? []
  const series = useMemo(
    () =>
      POINT_SERIES.map(([k, color]) => ({
        name: k === 'p999' ? 'p99.9' : k,
        color,
        points: points.map((p): [number, number | null] => [p.t, p.count > 0 ? p[k] : null]),
      })),
    [points],
  )
  const totals = stages.flatMap((s) => {
    const total = data?.stages[s]?.total
    return total ? [{ stage: s, total }] : []
  })
  return (
    <section>
      <div className="row">
        <h3>Latency from ingress</h3>
        <span className="grow" />
        <div className="tabs">
          {stages.map((s) => (
            <button key={s} className={s === shown ? 'active' : ''} onClick={() => setStage(s)}>
              {s}
            </button>
          ))}
        </div>
        <select value={range} onChange={(e) => setRange(e.target.value)} aria-label="range">
          {Object.keys(RANGES).map((r) => (
            <option key={r}>{r}</option>
          ))}
        </select>
      </div>
      {error && <div className="error">{error}</div>}
      <Chart label={`${shown ?? ''} latency`} series={series} />
      <Table testId="latency-totals" columns={totalColumns(range)} rows={totals} rowKey={(r) => r.stage} />
    </section>
  )
}

function ConfigHistory({ id, latest }: { id: string; latest: number }) {
  const [a, setA] = useState(Math.max(1, latest - 1))
  const [b, setB] = useState(latest)
  const [bodies, setBodies] = useState<Partial<Record<number, ConfigVersion>>>({})
  const [error, setError] = useState('')
  useEffect(() => {
    setB(latest)
    setA(Math.max(1, latest - 1))
  }, [latest])
  useEffect(() => {
    for (const v of [a, b])
      if (!(v in bodies))
        call('GET /api/v1/configs/{config_id}', { params: { config_id: id }, query: { version: v } })
          .then((r) => setBodies((m) => ({ ...m, [v]: r })))
          .catch((e: unknown) => setError(e instanceof Error ? e.message : String(e)))
  }, [a, b, id])
  const versions = Array.from({ length: latest }, (_, i) => i + 1)
  const from = bodies[a]
  const to = bodies[b]
  const lines = from && to ? diffLines(canonical(from.body).split('\n'), canonical(to.body).split('\n')) : []
  const changed = lines.some((l) => l.kind !== 'same')
  return (
    <div>
      <div className="row">
        <label>
          from v
          <select value={a} onChange={(e) => setA(Number(e.target.value))} aria-label="from version">
            {versions.map((v) => (
              <option key={v}>{v}</option>
            ))}
          </select>
        </label>
        <label>
          to v
          <select value={b} onChange={(e) => setB(Number(e.target.value))} aria-label="to version">
            {versions.map((v) => (
              <option key={v}>{v}</option>
            ))}
          </select>
        </label>
        {to && (
          <span className="muted">
            v{b} by {to.created_by} at {new Date(to.created_at).toLocaleString()}
          </span>
        )}
      </div>
      {error && <div className="error">{error}</div>}
      <pre className="diff" data-testid="config-diff">
        {lines
          .filter((l, i) => l.kind !== 'same' || !changed || nearChange(lines, i))
          .map((l, i) => (
            <div key={i} className={l.kind}>
              {l.kind === 'add' ? '+ ' : l.kind === 'del' ? '- ' : '  '}
              {l.text}
            </div>
          ))}
      </pre>
    </div>
  )
}

/** Whether line `i` is within 2 lines of a change (context around each hunk). */
function nearChange(lines: { kind: string }[], i: number): boolean {
  for (let j = Math.max(0, i - 2); j <= Math.min(lines.length - 1, i + 2); j++) if (lines[j].kind !== 'same') return true
  return false
}

function LogTail({ id }: { id: string }) {
  const tail = useApi('GET /api/v1/system/logs/{bot_id}', { params: { bot_id: id }, query: { tail: 200 } })
  const [streamed, setStreamed] = useState<LogLine[]>([])
  const [filter, setFilter] = useState('')
  useStream('logs', [`bot:${id}`], (m) => {
    if (isLogLine(m) && m.bot_id === id) setStreamed((cur) => [...cur, m].slice(-500))
  })
  // The tail as fetched, then the lines streamed since (500 at most).
  const lines = [...(tail.data?.lines ?? []), ...streamed].slice(-500)
  const shown = filter ? lines.filter((l) => l.line.toLowerCase().includes(filter.toLowerCase())) : lines
  return (
    <section>
      <div className="row">
        <h3>Log</h3>
        <span className="grow" />
        <input placeholder="filter" value={filter} onChange={(e) => setFilter(e.target.value)} aria-label="log filter" />
      </div>
      <pre className="log" data-testid="log">
        {shown.slice(-200).map((l, i) => (
          <div key={i}>
            <span className="muted">{new Date(l.at).toLocaleTimeString()} </span>
            {l.line}
          </div>
        ))}
      </pre>
    </section>
  )
}

/** The bot's build, its last warm handover and failed health checks, as its agent reports them. */
function HandoverLine({ status }: { status: NodeBotStatus | null | undefined }) {
  if (!status) return null
  const h = status.handover
  return (
    <div className="row muted" data-testid="handover">
      <span>build {fmtBuild(status.build)}</span>
      {h && (
        <span>
          last handover ({h.trigger}, {new Date(h.at_ms).toLocaleString()}):{' '}
          <span className={`pill ${h.outcome === 'completed' ? 'ok' : 'bad'}`}>{h.outcome}</span> {h.cause}
          {h.reason && <> · {h.reason}</>}
          {typeof h.gap_ns === 'number' && <> · gap {fmtNs(h.gap_ns)}</>}
        </span>
      )}
      {!!status.health_failures && (
        <span className="pill bad" data-testid="health-failures">
          {status.health_failures} failed health check(s)
        </span>
      )}
    </div>
  )
}
