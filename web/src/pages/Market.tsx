import { useEffect, useState } from 'react'
import { api, stream } from '../api'

/**
 * The market as the RealTimeDashboard bots see it. Such a bot publishes, in its reported
 * status, `market: {pairs: [{pair, quotes: {<dex>: price}, spread_bps, liquidity_usd}],
 * opportunities: [{route, profit_bps, size, dexes}]}`; this page shows the first running one.
 */
export function Market() {
  const [dashboards, setDashboards] = useState<string[] | null>(null)
  const [market, setMarket] = useState<any>(null)
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
        const mk = m.data?.reported?.status?.market
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
                  <td className="num">{Number(p.spread_bps).toFixed(1)} bps</td>
                  <td className="num">${Math.round(Number(p.liquidity_usd)).toLocaleString()}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <h3>Top opportunities</h3>
          <table data-testid="opportunities">
            <thead>
              <tr>
                <th>Route</th>
                <th className="num">Profit</th>
                <th className="num">Size</th>
              </tr>
            </thead>
            <tbody>
              {(market.opportunities ?? []).map((o: any, i: number) => (
                <tr key={i}>
                  <td>{o.route}</td>
                  <td className="num">{Number(o.profit_bps).toFixed(1)} bps</td>
                  <td className="num">{String(o.size)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </main>
  )
}
