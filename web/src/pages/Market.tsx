import { useEffect, useState } from 'react'
import { api, stream } from '../api'
import { Chart } from '../components/Chart'

/**
 * The market as a RealTimeDashboard bot sees it: the bot publishes `outputs.market` (its agent
 * reports it in the bot's status): `{pairs: [{pair, quotes: {<venue>: price}, spread_bps,
 * liquidity_usd, series: [[ms, price]]}], opportunities: [{pair, route, size, profit_bps,
 * profit_usd}], alerts: [{pair, message, since}]}` (bots/src/dashboard.rs).
 */
export function Market() {
  const [dashboards, setDashboards] = useState<string[] | null>(null)
  const [market, setMarket] = useState<any>(null)
  const [shown, setShown] = useState('')
  useEffect(() => {
    api('GET', '/api/v1/bots')
      .then((r) => setDashboards(r.bots.filter((b: any) => b.bot_type === 'real_time_dashboard').map((b: any) => b.bot_id)))
      .catch(() => setDashboards([]))
  }, [])
  useEffect(() => {
    if (!dashboards?.length) return
    const s = stream(
      'metrics',
      dashboards.map((d) => `bot:${d}`),
      (m) => {
        const mk = m.data?.reported?.status?.outputs?.market
        if (mk) setMarket({ ...mk, from: m.topic.slice(4), at: m.at })
      },
    )
    return () => s.close()
  }, [dashboards])
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
          <table data-testid="spreads">
            <thead>
              <tr>
                <th>Pair</th>
                <th>Quotes</th>
                <th className="num">Spread</th>
                <th className="num">Liquidity</th>
              </tr>
            </thead>
            <tbody>
              {(market.pairs ?? []).map((p: any) => (
                <tr key={p.pair}>
                  <td>{p.pair}</td>
                  <td>
                    {Object.entries(p.quotes ?? {})
                      .map(([d, q]) => `${d} ${Number(q).toPrecision(6)}`)
                      .join(' · ')}
                  </td>
                  <td className="num">{typeof p.spread_bps === 'number' ? `${p.spread_bps.toFixed(1)} bps` : '—'}</td>
                  <td className="num">${Math.round(Number(p.liquidity_usd)).toLocaleString()}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <div className="row">
            <h3>Price</h3>
            <select aria-label="pair" value={shown || market.pairs?.[0]?.pair} onChange={(e) => setShown(e.target.value)}>
              {(market.pairs ?? []).map((p: any) => (
                <option key={p.pair}>{p.pair}</option>
              ))}
            </select>
          </div>
          {(() => {
            const p = (market.pairs ?? []).find((x: any) => x.pair === (shown || market.pairs?.[0]?.pair))
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
              {market.alerts.map((a: any) => (
                <li key={a.pair}>
                  {a.message} (since {new Date(a.since).toLocaleTimeString()})
                </li>
              ))}
            </ul>
          )}
          <h3>Top opportunities</h3>
          <table data-testid="opportunities">
            <thead>
              <tr>
                <th>Pair</th>
                <th>Route</th>
                <th className="num">Size</th>
                <th className="num">Profit</th>
                <th className="num">Profit (USD)</th>
              </tr>
            </thead>
            <tbody>
              {(market.opportunities ?? []).map((o: any, i: number) => (
                <tr key={i}>
                  <td>{o.pair}</td>
                  <td>{o.route}</td>
                  <td className="num">{String(o.size)}</td>
                  <td className="num">{Number(o.profit_bps).toFixed(2)} bps</td>
                  <td className="num">${Number(o.profit_usd).toFixed(2)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </main>
  )
}
