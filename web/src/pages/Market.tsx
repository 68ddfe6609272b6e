import { useState } from 'react'
import { isBotMessage } from '../api'
import { Chart } from '../components/Chart'
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
              <Chart
                label={`${p.pair} mid price`}
                zero={false}
                fmt={(v) => v.toPrecision(6)}
                series={[{ name: `${p.pair} median mid`, color: '#4493f8', points: p.series ?? [] }]}
              />
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
