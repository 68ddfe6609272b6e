import { useState } from 'react'
import { isBotMessage } from '../api'
import { Chart, type Mark } from '../components/Chart'
import type { TradeRow } from '../generated/api'
import { Table, type Column } from '../components/Table'
import { useApi, useStream } from '../hooks'
import { outputsOf, type MarketOpportunity, type MarketPair, type MarketView } from '../outputs'

const PAIR_COLUMNS: Column<MarketPair>[] = [
  { header: 'Pair', cell: (p) => p.pair },
  {
    header: 'Quotes',
    cell: (p) =>
      Object.entries(p.quotes ?? {})
        .map(([d, q]) => `${d} ${Number(q).toPrecision(6)}`)
        .join(' · '),
  },
  {
    header: 'Spread',
    className: 'num',
    cell: (p) => (typeof p.spread_bps === 'number' ? `${p.spread_bps.toFixed(1)} bps` : '—'),
  },
  { header: 'Liquidity', className: 'num', cell: (p) => `$${Math.round(Number(p.liquidity_usd)).toLocaleString()}` },
]

const OPPORTUNITY_COLUMNS: Column<MarketOpportunity>[] = [
  { header: 'Pair', cell: (o) => o.pair },
  { header: 'Route', cell: (o) => o.route },
  { header: 'Size', className: 'num', cell: (o) => String(o.size) },
  { header: 'Profit', className: 'num', cell: (o) => `${Number(o.profit_bps).toFixed(2)} bps` },
  { header: 'Profit (USD)', className: 'num', cell: (o) => `$${Number(o.profit_usd).toFixed(2)}` },
]

/**
 * The market as a RealTimeDashboard bot sees it: the bot publishes `outputs.market` (its agent
 * reports it in the bot's status): `{pairs: [{pair, quotes: {<venue>: price}, spread_bps,
 * liquidity_usd, series: [[ms, price]]}], opportunities: [{pair, route, size, profit_bps,
 * profit_usd}], alerts: [{pair, message, since}]}` (bots/src/dashboard.rs).
 */
export function Market() {
  const bots = useApi('GET /api/v1/bots', {})
  const dashboards = bots.data
    ? bots.data.bots.filter((b) => b.bot_type === 'real_time_dashboard').map((b) => b.bot_id)
    : bots.error
      ? []
      : null
  const [market, setMarket] = useState<(MarketView & { from: string; at: number }) | null>(null)
  const [shown, setShown] = useState('')
  // The fleet's fills over the chart's span (the newest 1,000), to mark on it.
  const since = Math.min(...(market?.pairs ?? []).flatMap((p) => (p.series ?? []).slice(0, 1).map((pt) => pt[0])))
  const trades =
    useApi('GET /api/v1/trades', Number.isFinite(since) ? { query: { from: Math.floor(since), limit: 1000 } } : null, { intervalMs: 5_000 }).data
      ?.trades ?? []
  useStream(
    'metrics',
    dashboards?.length ? dashboards.map((d) => `bot:${d}`) : null,
    (m) => {
      if (!isBotMessage(m)) return
      const mk = outputsOf(m.data?.reported?.status?.outputs).market
      if (mk) setMarket({ ...mk, from: m.topic.slice(4), at: m.at })
    },
  )
  return (
    <main>
      <header className="page-head">
        <h2>Market</h2>
        {market && (
          <span className="muted">
            from {market.from} at {new Date(market.at).toLocaleTimeString()}
          </span>
        )}
      </header>
      {dashboards !== null && dashboards.length === 0 && (
        <p className="muted" data-testid="no-dashboard">
          No real_time_dashboard bot in the fleet: create one (New bot → real_time_dashboard) to fill this page.
        </p>
      )}
      {dashboards !== null && dashboards.length > 0 && !market && <p className="muted">Waiting for the dashboard's first report…</p>}
      {market && (
        <>
          <h3>Spreads per pair</h3>
          <Table testId="spreads" columns={PAIR_COLUMNS} rows={market.pairs ?? []} rowKey={(p) => p.pair} />
          <div className="row">
            <h3>Price</h3>
            <select aria-label="pair" value={shown || market.pairs?.[0]?.pair} onChange={(e) => setShown(e.target.value)}>
              {(market.pairs ?? []).map((p) => (
                <option key={p.pair}>{p.pair}</option>
              ))}
            </select>
          </div>
          {(() => {
            const p = (market.pairs ?? []).find((x) => x.pair === (shown || market.pairs?.[0]?.pair))
            return p ? (
              <>
                <Chart
                  label={`${p.pair} mid price`}
                  zero={false}
                  fmt={(v) => v.toPrecision(6)}
                  testId="market-chart"
                  series={[{ name: `${p.pair} median mid`, color: '#4493f8', points: p.series ?? [] }]}
                  marks={fillMarks(p.pair, trades)}
                />
                <p className="muted" data-testid="fill-marks">
                  Circles: the fleet's fills on routes through {p.pair} (green a profit, red a loss, grey a failed route).
                </p>
              </>
            ) : null
          })()}
          <h3>Market alerts</h3>
          {(market.alerts ?? []).length === 0 ? (
            <p className="muted">None.</p>
          ) : (
            <ul data-testid="market-alerts">
              {market.alerts.map((a) => (
                <li key={a.pair}>
                  {a.message} (since {new Date(a.since).toLocaleTimeString()})
                </li>
              ))}
            </ul>
          )}
          <h3>Top opportunities</h3>
          <Table
            testId="opportunities"
            columns={OPPORTUNITY_COLUMNS}
            rows={market.opportunities ?? []}
            rowKey={(_, i) => i}
          />
        </>
      )}
    </main>
  )
}

/** The tokens a fill's route passes through (`SOL>USDC>SOL via …` → SOL, USDC). */
export function routeTokens(route: string | null | undefined): string[] {
  return (route ?? '').split(' via ')[0].split('>').filter(Boolean)
}

/** Marks for the fills whose route trades `pair` (`SOL/USDC`: both its tokens on the route). */
export function fillMarks(pair: string, trades: readonly TradeRow[]): Mark[] {
  const tokens = pair.split('/')
  return trades
    .filter((t) => {
      const on = routeTokens(t.route)
      return tokens.every((x) => on.includes(x))
    })
    .map((t) => ({
      t: t.at_ms,
      color: t.amount_out === null || t.amount_out === undefined ? '#8b949e' : t.pnl_usd >= 0 ? '#3fb950' : '#f85149',
      title: `${t.bot_id} #${t.seq} ${t.route ?? ''}: ${t.amount_out === null || t.amount_out === undefined ? 'failed' : `${t.pnl_usd.toFixed(2)} USD`}`,
    }))
}
