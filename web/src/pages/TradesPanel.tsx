import { useEffect, useMemo, useState } from 'react'
import { call, fmtUsd } from '../api'
import { Chart, type Series } from '../components/Chart'
import { Table, type Column } from '../components/Table'
import type { PnlReport, TradeList, TradeRow } from '../generated/api'
import { useApi } from '../hooks'

/** The ranges the PnL charts and the trades table show, ending now. */
export const PNL_RANGES: Record<string, number> = {
  '1 h': 3_600_000,
  '24 h': 86_400_000,
  '7 d': 7 * 86_400_000,
}

/** Which trades the table shows. */
export type Outcome = 'all' | 'wins' | 'losses' | 'failed'

export function outcomeOf(t: TradeRow): Exclude<Outcome, 'all'> | 'flat' {
  if (t.amount_out === null || t.amount_out === undefined) return 'failed'
  return t.pnl_usd > 0 ? 'wins' : t.pnl_usd < 0 ? 'losses' : 'flat'
}

/** Whether `t` passes the table's filters: its outcome, and `text` in its route, token or signature. */
export function shownTrade(t: TradeRow, outcome: Outcome, text: string): boolean {
  if (outcome !== 'all' && outcomeOf(t) !== outcome) return false
  const q = text.trim().toLowerCase()
  return !q || [t.route ?? '', t.token, t.signature ?? '', t.node_id].some((f) => f.toLowerCase().includes(q))
}

const CSV_COLUMNS: [string, (t: TradeRow) => string | number | null | undefined][] = [
  ['at', (t) => new Date(t.at_ms).toISOString()],
  ['at_ms', (t) => t.at_ms],
  ['bot_id', (t) => t.bot_id],
  ['environment', (t) => t.environment],
  ['node_id', (t) => t.node_id],
  ['seq', (t) => t.seq],
  ['route', (t) => t.route],
  ['cycle', (t) => t.cycle],
  ['token', (t) => t.token],
  ['amount_in', (t) => t.amount_in],
  ['amount_out', (t) => t.amount_out],
  ['expected_out', (t) => t.expected_out],
  ['fee', (t) => t.fee],
  ['fee_usd', (t) => t.fee_usd],
  ['volume_usd', (t) => t.volume_usd],
  ['pnl', (t) => t.pnl],
  ['pnl_usd', (t) => t.pnl_usd],
  ['slot', (t) => t.slot],
  ['latency_us', (t) => t.latency_us],
  ['signature', (t) => t.signature],
]

/**
 * One CSV cell (RFC 4180): a number as it is, a text quoted. A text cell a spreadsheet would run
 * as a formula (`=`, `+`, `-`, `@`, tab, CR first) is prefixed with `'`.
 */
function csvCell(v: string | number | null | undefined): string {
  if (v === null || v === undefined) return ''
  if (typeof v === 'number') return String(v)
  const safe = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v
  // Every text cell quoted: a spreadsheet splitting on another separator (`;`) never starts a
  // cell inside one.
  return `"${safe.replaceAll('"', '""')}"`
}

/** The trades as CSV, a header line then a line a trade. */
export function tradesCsv(rows: readonly TradeRow[]): string {
  const lines = [CSV_COLUMNS.map(([h]) => h).join(',')]
  for (const t of rows) lines.push(CSV_COLUMNS.map(([, f]) => csvCell(f(t))).join(','))
  return lines.join('\r\n') + '\r\n'
}

/** Most trades a CSV download fetches. */
export const CSV_MAX = 10_000

const COLORS = ['#4493f8', '#f0883e', '#e5534b', '#57ab5a']

/** Every `scope`'s PnL over the last `range` ms, fetched again every 5 s. */
export function usePnl(scopes: readonly string[], range: number): { reports: Record<string, PnlReport>; error: string } {
  const key = JSON.stringify([scopes, range])
  const [state, setState] = useState<{ key: string; reports: Record<string, PnlReport>; error: string }>({ key, reports: {}, error: '' })
  useEffect(() => {
    const [asked, ms] = JSON.parse(key) as [string[], number]
    let current = true
    const run = async () => {
      const to = Date.now()
      try {
        const rs = await Promise.all(asked.map((scope) => call('GET /api/v1/pnl', { query: { scope, from: to - ms, to } })))
        if (current) setState({ key, reports: Object.fromEntries(rs.map((r) => [r.scope, r])), error: '' })
      } catch (e) {
        const error = e instanceof Error ? e.message : String(e)
        if (current) setState((s) => ({ key, reports: s.key === key ? s.reports : {}, error }))
      }
    }
    void run()
    const timer = setInterval(run, 5_000)
    return () => {
      current = false
      clearInterval(timer)
    }
  }, [key])
  return state.key === key ? state : { reports: {}, error: '' }
}

/** Cumulative PnL over `range` of each scope, one line each, with each scope's totals. */
export function PnlChart({ scopes, range, label }: { scopes: string[]; range: number; label: string }) {
  const { reports, error } = usePnl(scopes, range)
  const series: Series[] = useMemo(
    () =>
      scopes.map((scope, i) => ({
        name: scope,
        color: COLORS[i % COLORS.length],
        points: (reports[scope]?.intervals ?? []).map((p): [number, number | null] => [p.start_ms + (reports[scope]?.step_ms ?? 0), p.cumulative_pnl_usd]),
      })),
    [reports, scopes],
  )
  return (
    <div data-testid="pnl-chart">
      {error && <div className="error">{error}</div>}
      <Chart label={label} series={series} fmt={(v) => fmtUsd(v)} zero={false} testId="pnl-svg" />
      <table className="kv" data-testid="pnl-totals">
        <tbody>
          {scopes.map((s) => {
            const t = reports[s]?.totals
            return (
              <tr key={s}>
                <th>{s}</th>
                <td>
                  {t
                    ? `${fmtUsd(t.pnl_usd)} over ${t.trades} trades · win rate ${t.win_rate === null ? '—' : `${(t.win_rate * 100).toFixed(1)} %`} · max drawdown ${fmtUsd(t.drawdown_usd)} · volume ${fmtUsd(t.volume_usd)} · fees ${fmtUsd(t.fee_usd)}${t.failed ? ` · ${t.failed} failed` : ''}`
                    : '—'}
                </td>
              </tr>
            )
          })}
        </tbody>
      </table>
    </div>
  )
}

const TRADE_COLUMNS: Column<TradeRow>[] = [
  { header: 'Time', cell: (t) => new Date(t.at_ms).toLocaleString() },
  { header: '#', className: 'num', cell: (t) => t.seq },
  { header: 'Route', cell: (t) => t.route ?? `cycle ${t.cycle}` },
  { header: 'In', className: 'num', cell: (t) => `${t.amount_in} ${t.token}` },
  {
    header: 'Out (expected)',
    className: 'num',
    cell: (t) => (t.amount_out === null || t.amount_out === undefined ? <span className="pill bad">failed</span> : `${t.amount_out} (${t.expected_out})`),
  },
  { header: 'PnL', className: 'num', cell: (t) => <span className={t.pnl_usd < 0 ? 'neg' : t.pnl_usd > 0 ? 'pos' : ''}>{fmtUsd(t.pnl_usd)}</span> },
  { header: 'Fee', className: 'num', cell: (t) => fmtUsd(t.fee_usd) },
  { header: 'Latency', className: 'num', cell: (t) => `${t.latency_us} µs` },
  { header: 'Slot', className: 'num', cell: (t) => t.slot },
  { header: 'Node', cell: (t) => t.node_id },
  { header: 'Tx', cell: (t) => (t.signature ? <code title={t.signature}>{t.signature.slice(0, 8)}…</code> : 'paper') },
]

/** A bot's trades: its cumulative PnL, a filterable table a page at a time, and a CSV download. */
export function TradesPanel({ botId }: { botId: string }) {
  const [rangeName, setRangeName] = useState('24 h')
  const [outcome, setOutcome] = useState<Outcome>('all')
  const [text, setText] = useState('')
  // Once older trades are loaded, the table stands still (rows shown, then older pages) until
  // it goes live again: a first page refreshed under older pages would lose the trades that
  // slide out of it.
  const [more, setMore] = useState<{ rows: TradeRow[]; cursor: string | null; key: string }>({ rows: [], cursor: null, key: '' })
  const [notice, setNotice] = useState('')
  const [loading, setLoading] = useState(false)
  const range = PNL_RANGES[rangeName]
  const key = `${botId} ${rangeName}`
  const frozen = more.key === key && more.rows.length > 0
  const first = useApi(
    'GET /api/v1/trades',
    frozen ? null : { query: { bot: botId, limit: 200 } },
    {
      intervalMs: 5_000,
      fresh: (args) => ({ ...args, query: { ...args.query, from: Date.now() - range } }),
    },
  )
  const cursor = frozen ? more.cursor : (first.data?.next_cursor ?? null)
  const rows = frozen ? more.rows : (first.data?.trades ?? [])
  const shown = rows.filter((t) => shownTrade(t, outcome, text))
  const loadMore = async () => {
    // One page at a time: a second click while one loads is ignored.
    if (!cursor || loading) return
    setLoading(true)
    try {
      const page = await call('GET /api/v1/trades', { query: { bot: botId, limit: 200, from: Date.now() - range, cursor } })
      setMore({ rows: [...rows, ...page.trades], cursor: page.next_cursor ?? null, key })
    } catch (e) {
      setNotice(e instanceof Error ? e.message : String(e))
    } finally {
      setLoading(false)
    }
  }
  const download = async () => {
    const all: TradeRow[] = []
    let next: string | null | undefined = undefined
    const from = Date.now() - range
    try {
      do {
        const page: TradeList = await call('GET /api/v1/trades', { query: { bot: botId, limit: 1000, from, ...(next ? { cursor: next } : {}) } })
        all.push(...page.trades)
        next = page.next_cursor
      } while (next && all.length < CSV_MAX)
    } catch (e) {
      setNotice(e instanceof Error ? e.message : String(e))
      return
    }
    const picked = all.filter((t) => shownTrade(t, outcome, text)).slice(0, CSV_MAX)
    const url = URL.createObjectURL(new Blob([tradesCsv(picked)], { type: 'text/csv' }))
    const a = document.createElement('a')
    a.href = url
    a.download = `${botId}-trades-${rangeName.replace(' ', '')}.csv`
    a.click()
    setTimeout(() => URL.revokeObjectURL(url), 10_000)
    setNotice(`${picked.length} trades downloaded${next ? ` (the first ${CSV_MAX}; narrow the range for the rest)` : ''}`)
  }
  return (
    <section data-testid="trades-panel">
      <div className="row">
        <h3>Trades and PnL</h3>
        <span className="grow" />
        <select value={rangeName} onChange={(e) => setRangeName(e.target.value)} aria-label="trades range">
          {Object.keys(PNL_RANGES).map((r) => (
            <option key={r}>{r}</option>
          ))}
        </select>
      </div>
      <PnlChart scopes={[`bot:${botId}`]} range={range} label={`${botId} cumulative PnL`} />
      <div className="row">
        <select value={outcome} onChange={(e) => setOutcome(e.target.value as Outcome)} aria-label="outcome">
          <option value="all">all trades</option>
          <option value="wins">wins</option>
          <option value="losses">losses</option>
          <option value="failed">failed routes</option>
        </select>
        <input placeholder="route, token, node or signature" value={text} onChange={(e) => setText(e.target.value)} aria-label="trade filter" />
        <span className="muted" data-testid="trades-count">
          {shown.length} of {rows.length} loaded
        </span>
        <span className="grow" />
        <button onClick={() => void download()} data-testid="trades-csv">
          Download CSV
        </button>
      </div>
      {(first.error || notice) && <div className={first.error ? 'error' : 'muted'}>{first.error || notice}</div>}
      <Table
        testId="trades"
        columns={TRADE_COLUMNS}
        rows={shown}
        rowKey={(t) => `${t.node_id}:${t.seq}`}
        rowProps={(t) => ({ 'data-outcome': outcomeOf(t) })}
        empty={frozen || first.data ? 'No trades in this range.' : 'Loading…'}
      />
      <div className="row">
        {cursor && (
          <button onClick={() => void loadMore()} disabled={loading} data-testid="trades-more">
            Load older trades
          </button>
        )}
        {frozen && (
          <button onClick={() => setMore({ rows: [], cursor: null, key: '' })} data-testid="trades-live">
            Back to the newest (live)
          </button>
        )}
      </div>
    </section>
  )
}
