import { useState } from 'react'
import { call, can, fmtUsd, isRecord, type Role } from '../api'
import { Table, type Column } from '../components/Table'
import type { BacktestRow, ListedNode } from '../generated/api'
import { useEnv } from '../env'
import { useApi } from '../hooks'
import { go } from '../router'
import { EnvPill } from './Fleet'

/** The types a backtest runs. */
const TRADING = ['enhanced_arbitrage', 'triangular_arbitrage', 'flash_loan_arbitrage']

/** The numbers of one run's report.json the page shows (the file holds more). */
export interface RunSummary {
  bot_id?: string
  trades?: number
  wins?: number
  losses?: number
  failed?: number
  win_rate?: number | null
  pnl_usd?: number
  max_drawdown_usd?: number
  volume_usd?: number
  fee_usd?: number
  opportunities_seen?: number
  orders?: number
  open_at_end?: number
  updates?: number
  latency_model_us?: number
  rejected?: Record<string, number>
  routes?: { route: string; trades: number; wins: number; failed: number; pnl_usd: number }[]
  params?: Record<string, unknown>
  halted?: string | null
}

/** A sweep's row (sweep.json). */
export interface SweepRow {
  dir: string
  params: Record<string, unknown>
  trades: number
  win_rate: number | null
  pnl_usd: number
  max_drawdown_usd: number
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined)
const counts = (v: unknown): Record<string, number> =>
  isRecord(v) ? Object.fromEntries(Object.entries(v).flatMap(([k, n]) => (typeof n === 'number' ? [[k, n]] : []))) : {}

/**
 * One run's report as the page reads it: each field checked (a node's report is outside data;
 * a field of the wrong kind reads as absent rather than breaking the page).
 */
export function runOf(report: unknown): RunSummary | null {
  if (!isRecord(report)) return null
  const r = report
  return {
    bot_id: typeof r.bot_id === 'string' ? r.bot_id : undefined,
    trades: num(r.trades),
    wins: num(r.wins),
    losses: num(r.losses),
    failed: num(r.failed),
    win_rate: num(r.win_rate) ?? null,
    pnl_usd: num(r.pnl_usd),
    max_drawdown_usd: num(r.max_drawdown_usd),
    volume_usd: num(r.volume_usd),
    fee_usd: num(r.fee_usd),
    opportunities_seen: num(r.opportunities_seen),
    orders: num(r.orders),
    open_at_end: num(r.open_at_end),
    updates: num(r.updates),
    latency_model_us: num(r.latency_model_us),
    rejected: counts(r.rejected),
    routes: Array.isArray(r.routes)
      ? r.routes.filter(isRecord).map((x) => ({
          route: String(x.route ?? ''),
          trades: num(x.trades) ?? 0,
          wins: num(x.wins) ?? 0,
          failed: num(x.failed) ?? 0,
          pnl_usd: num(x.pnl_usd) ?? 0,
        }))
      : undefined,
    params: isRecord(r.params) ? r.params : undefined,
    halted: typeof r.halted === 'string' ? r.halted : null,
  }
}

/** A sweep's rows as the page reads them (each field checked, as for {@link runOf}). */
export function sweepOf(report: unknown): SweepRow[] | null {
  if (!Array.isArray(report)) return null
  return report.filter(isRecord).map((r) => ({
    dir: String(r.dir ?? ''),
    params: isRecord(r.params) ? r.params : {},
    trades: num(r.trades) ?? 0,
    win_rate: num(r.win_rate) ?? null,
    pnl_usd: num(r.pnl_usd) ?? 0,
    max_drawdown_usd: num(r.max_drawdown_usd) ?? 0,
  }))
}

const pct = (v: number | null | undefined) => (typeof v === 'number' ? `${(v * 100).toFixed(1)} %` : '—')

/** The one line a listing shows of a backtest's result. */
export function resultLine(b: BacktestRow): string {
  if (b.state === 'failed') return b.error ?? 'failed'
  if (b.state !== 'done') return b.state
  const sweep = sweepOf(b.report)
  if (sweep) {
    const best = [...sweep].sort((x, y) => y.pnl_usd - x.pnl_usd)[0]
    return `${sweep.length} run${sweep.length === 1 ? '' : 's'}; best ${best ? `${fmtUsd(best.pnl_usd)} (${Object.entries(best.params).map(([k, v]) => `${k}=${String(v)}`).join(', ')})` : '—'}`
  }
  const r = runOf(b.report)
  return r ? `${fmtUsd(r.pnl_usd)} over ${r.trades ?? 0} trades · win rate ${pct(r.win_rate)} · max drawdown ${fmtUsd(r.max_drawdown_usd)}` : '—'
}

const COLUMNS: Column<BacktestRow>[] = [
  { header: 'Backtest', cell: (b) => <a href={`#/backtests/${b.backtest_id}`}>{b.backtest_id}</a> },
  { header: 'Env', cell: (b) => <EnvPill env={b.environment} /> },
  { header: 'Bot', cell: (b) => (isRecord(b.request.config) ? String(b.request.config.bot_id ?? '') : '') },
  { header: 'Node', cell: (b) => b.node_id },
  { header: 'Recording', cell: (b) => b.request.recording },
  { header: 'Sweep', cell: (b) => (b.request.sweep?.length ? b.request.sweep.join(' × ') : '—') },
  { header: 'State', cell: (b) => <span className={`pill ${b.state === 'done' ? 'ok' : b.state === 'failed' ? 'bad' : 'warn'}`}>{b.state}</span> },
  { header: 'Result', cell: resultLine },
  { header: 'Asked', cell: (b) => `${new Date(b.created_at).toLocaleString()} by ${b.created_by}` },
]

/** Backtests: queue one on a node, list them, open one's report. */
export function Backtests({ role, id }: { role: Role; id?: string }) {
  if (id) return <BacktestReport id={id} />
  return <BacktestList role={role} />
}

function BacktestList({ role }: { role: Role }) {
  const env = useEnv()
  const list = useApi('GET /api/v1/backtests', env ? { query: { env } } : {}, { intervalMs: 2_000 })
  return (
    <main>
      <header className="page-head">
        <h2>Backtests</h2>
        <span className="muted">a configuration over a recording a node holds, on the recording’s clock</span>
      </header>
      {list.error && <div className="error">{list.error}</div>}
      {can(role, 'operator') && <BacktestForm onQueued={() => void list.reload()} />}
      <Table testId="backtests" columns={COLUMNS} rows={list.data?.backtests ?? []} rowKey={(b) => b.backtest_id} empty="No backtests yet." />
    </main>
  )
}

/** A size in bytes as B, KB, MB, GB or TB (powers of 1,000; one decimal above B). */
export function fmtBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB']
  let u = 0
  while (u < units.length - 1 && Number((n / 1000 ** u).toFixed(1)) >= 1000) u += 1
  return u === 0 ? `${n} B` : `${(n / 1000 ** u).toFixed(1)} ${units[u]}`
}

/** A unix-ms time as `YYYY-MM-DD HH:MM UTC` ('—' for one no `Date` holds). */
export function fmtDate(ms: number): string {
  const d = new Date(ms)
  return Number.isFinite(d.getTime()) ? `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC` : '—'
}

/** A node's recordings: the ones its agent last listed, each a click that names it. */
function NodeRecordings({ node, chosen, onChoose }: { node: ListedNode; chosen: string; onChoose: (name: string) => void }) {
  const held = node.recordings
  const silentS = Math.floor((Date.now() - node.last_heartbeat) / 1000)
  return (
    <div data-testid="node-recordings">
      {held === null ? (
        <span className="muted">{node.node_id} has not listed its recordings (its agent is older than listing, or has not reported yet)</span>
      ) : held.length === 0 ? (
        <span className="muted">{node.node_id} lists no recordings in its DATA/recordings/</span>
      ) : (
        <>
          <span className="muted">
            On {node.node_id}
            {held.length >= 256 ? ' (its newest 256)' : ''}
            {silentS > 60 ? `, as it listed them before it went silent ${fmtDate(node.last_heartbeat)}` : ''}:
          </span>
          <ul className="chips recordings" aria-label={`recordings on ${node.node_id}`}>
            {held.map((r) => (
              <li key={r.name}>
                <button type="button" className="chip" aria-pressed={chosen === r.name} title={`${r.bytes} bytes, last written ${fmtDate(r.modified_ms)}`} onClick={() => onChoose(r.name)}>
                  {r.name} · {fmtBytes(r.bytes)} · {fmtDate(r.modified_ms)}
                </button>
              </li>
            ))}
          </ul>
        </>
      )}
    </div>
  )
}

function BacktestForm({ onQueued }: { onQueued: () => void }) {
  const bots = useApi('GET /api/v1/bots', {}).data?.bots.filter((b) => TRADING.includes(b.bot_type) && !b.replica_of) ?? []
  // Every 10 s: a recording copied onto a node shows up without a reload.
  const nodes = useApi('GET /api/v1/nodes', {}, { intervalMs: 10_000 }).data?.nodes ?? []
  const [bot, setBot] = useState('')
  const [node, setNode] = useState('')
  const [recording, setRecording] = useState('')
  const [latency, setLatency] = useState('')
  const [sweep, setSweep] = useState('')
  const [message, setMessage] = useState('')
  // The node picked (one gone since is no node: the gateway says so), else the first.
  const chosenNode = node ? nodes.find((n) => n.node_id === node) : nodes[0]
  const submit = async (e: React.FormEvent) => {
    e.preventDefault()
    try {
      const chosen = bot || bots[0]?.bot_id
      if (!chosen) throw new Error('no arbitrage bot to take a configuration from')
      const got = await call('GET /api/v1/bots/{bot_id}', { params: { bot_id: chosen } })
      if (!got.config) throw new Error(`bot ${chosen} has no configuration`)
      const queued = await call('POST /api/v1/backtests', {
        body: {
          node_id: node || nodes[0]?.node_id || '',
          recording: recording.trim(),
          config: got.config.body,
          ...(latency.trim() ? { latency_us: Number(latency) } : {}),
          sweep: sweep
            .split('\n')
            .map((s) => s.trim())
            .filter(Boolean),
        },
      })
      setMessage(`queued ${queued.backtest_id} on ${queued.node_id}`)
      onQueued()
    } catch (err) {
      setMessage(err instanceof Error ? err.message : String(err))
    }
  }
  return (
    <form className="card" onSubmit={submit} data-testid="backtest-form">
      <h4>Run a backtest</h4>
      <div className="row">
        <label>
          Configuration of
          <select aria-label="backtest bot" value={bot} onChange={(e) => setBot(e.target.value)}>
            {bots.map((b) => (
              <option key={b.bot_id}>{b.bot_id}</option>
            ))}
          </select>
        </label>
        <label>
          Node
          <select aria-label="backtest node" value={node} onChange={(e) => setNode(e.target.value)}>
            {nodes.map((n) => (
              <option key={n.node_id}>{n.node_id}</option>
            ))}
          </select>
        </label>
        <label>
          Recording <input aria-label="recording" placeholder="market.sfrec (in the node's DATA/recordings/)" value={recording} onChange={(e) => setRecording(e.target.value)} required />
        </label>
        <label>
          Latency (µs) <input aria-label="latency" placeholder="the configuration's" value={latency} onChange={(e) => setLatency(e.target.value)} />
        </label>
        <label>
          Sweep <textarea aria-label="sweep" rows={2} placeholder="trading.min_profit_bps=10,20,50 (one per line)" value={sweep} onChange={(e) => setSweep(e.target.value)} />
        </label>
        <button className="primary" type="submit">
          Queue
        </button>
      </div>
      {chosenNode && <NodeRecordings node={chosenNode} chosen={recording.trim()} onChoose={setRecording} />}
      {message && (
        <div className="muted" data-testid="backtest-message">
          {message}
        </div>
      )}
    </form>
  )
}

function BacktestReport({ id }: { id: string }) {
  const [finished, setFinished] = useState(false)
  // Fetched every 2 s until it is done or failed (a finished report does not change).
  const { data: b, error } = useApi('GET /api/v1/backtests/{backtest_id}', { params: { backtest_id: id } }, { intervalMs: finished ? 0 : 2_000 })
  if (b && !finished && (b.state === 'done' || b.state === 'failed')) setFinished(true)
  if (!b) return <main>{error ? <div className="error">{error}</div> : <p className="muted">Loading…</p>}</main>
  const run = runOf(b.report)
  const sweep = sweepOf(b.report)
  return (
    <main>
      <header className="page-head">
        <h2>{b.backtest_id}</h2>
        <span className="muted">
          <EnvPill env={b.environment} /> {b.request.recording} on {b.node_id}
          {b.request.latency_us !== undefined && b.request.latency_us !== null && ` · ${b.request.latency_us} µs modelled`}
        </span>
        <span className={`pill ${b.state === 'done' ? 'ok' : b.state === 'failed' ? 'bad' : 'warn'}`} data-testid="backtest-state">
          {b.state}
        </span>
        <span className="grow" />
        <button onClick={() => go('backtests')}>Back</button>
      </header>
      {b.error && <div className="error">{b.error}</div>}
      {run && !sweep && (
        <section className="cols">
          <div>
            <h3>Result</h3>
            <table className="kv" data-testid="backtest-result">
              <tbody>
                {(
                  [
                    ['PnL', fmtUsd(run.pnl_usd)],
                    ['trades', run.trades],
                    ['wins / losses / failed', `${run.wins} / ${run.losses} / ${run.failed}`],
                    ['win rate', pct(run.win_rate)],
                    ['max drawdown', fmtUsd(run.max_drawdown_usd)],
                    ['volume', fmtUsd(run.volume_usd)],
                    ['fees', fmtUsd(run.fee_usd)],
                    ['opportunities', `${run.opportunities_seen} confirmed, ${run.orders} ordered`],
                    ['rejected by gate', Object.entries(run.rejected ?? {}).filter(([, n]) => n > 0).map(([g, n]) => `${g} ${n}`).join(', ') || 'none'],
                    ['open at the end', run.open_at_end],
                    ['updates', run.updates],
                  ] as [string, unknown][]
                ).map(([k, v]) => (
                  <tr key={k}>
                    <th>{k}</th>
                    <td>{String(v ?? '—')}</td>
                  </tr>
                ))}
                {run.halted && (
                  <tr>
                    <th>halted</th>
                    <td>{run.halted}</td>
                  </tr>
                )}
              </tbody>
            </table>
          </div>
          <div>
            <h3>Cumulative PnL</h3>
            {/* The chart as an image: an SVG from a node never runs script in an <img>. */}
            {b.pnl_svg && <img data-testid="backtest-svg" alt="cumulative PnL" src={`data:image/svg+xml;charset=utf-8,${encodeURIComponent(b.pnl_svg)}`} style={{ maxWidth: '100%' }} />}
          </div>
        </section>
      )}
      {run?.routes && !sweep && (
        <>
          <h3>Routes</h3>
          <Table
            testId="backtest-routes"
            columns={[
              { header: 'Route', cell: (r) => r.route },
              { header: 'Trades', className: 'num', cell: (r) => r.trades },
              { header: 'Wins', className: 'num', cell: (r) => r.wins },
              { header: 'Failed', className: 'num', cell: (r) => r.failed },
              { header: 'PnL', className: 'num', cell: (r) => fmtUsd(r.pnl_usd) },
            ]}
            rows={run.routes.slice(0, 50)}
            rowKey={(r) => r.route}
          />
        </>
      )}
      {sweep && (
        <>
          <h3>Sweep</h3>
          <Table
            testId="backtest-sweep"
            columns={[
              { header: 'Run', cell: (r) => r.dir },
              ...Object.keys(sweep[0]?.params ?? {}).map((k): Column<SweepRow> => ({ header: k, cell: (r) => String(r.params[k]) })),
              { header: 'Trades', className: 'num', cell: (r) => r.trades },
              { header: 'Win rate', className: 'num', cell: (r) => pct(r.win_rate) },
              { header: 'PnL', className: 'num', cell: (r) => fmtUsd(r.pnl_usd) },
              { header: 'Max drawdown', className: 'num', cell: (r) => fmtUsd(r.max_drawdown_usd) },
            ]}
            rows={sweep}
            rowKey={(r) => r.dir}
          />
        </>
      )}
      {b.report_md && (
        <details>
          <summary>report (Markdown)</summary>
          <pre className="log" data-testid="backtest-md">
            {b.report_md}
          </pre>
        </details>
      )}
    </main>
  )
}
