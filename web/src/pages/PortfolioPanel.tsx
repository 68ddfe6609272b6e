import { fmtUsd } from '../api'

/**
 * A portfolio_manager bot's books (`outputs.portfolio`, bots/src/portfolio.rs): balances marked
 * to USD with weights and targets, PnL per bot, exposure alerts and the rebalancing plan.
 */
export function PortfolioPanel({ book }: { book: any }) {
  const pct = (v: unknown) => (typeof v === 'number' ? `${(v * 100).toFixed(1)} %` : '—')
  return (
    <section data-testid="portfolio">
      <h3>Portfolio</h3>
      <div className="tiles">
        <div className="tile">
          <div className="muted">Value</div>
          <div className="big">{fmtUsd(book.total_value_usd)}</div>
        </div>
        <div className="tile">
          <div className="muted">Realised PnL</div>
          <div className="big">{fmtUsd(book.realised_pnl_usd)}</div>
        </div>
        <div className="tile">
          <div className="muted">Unrealised PnL</div>
          <div className="big">{fmtUsd(book.unrealised_pnl_usd)}</div>
        </div>
      </div>
      {(book.alerts ?? []).map((a: any, i: number) => (
        <div key={i} className="error" role="alert">
          {a.message}
        </div>
      ))}
      <table>
        <thead>
          <tr>
            <th>Token</th>
            <th className="num">Quantity</th>
            <th className="num">Price</th>
            <th className="num">Value</th>
            <th className="num">Weight</th>
            <th className="num">Target</th>
          </tr>
        </thead>
        <tbody>
          {(book.balances ?? []).map((b: any) => (
            <tr key={b.token}>
              <td>{b.token}</td>
              <td className="num">{Number(b.quantity).toLocaleString(undefined, { maximumFractionDigits: 6 })}</td>
              <td className="num">{typeof b.price_usd === 'number' ? `$${b.price_usd.toPrecision(6)}` : '—'}</td>
              <td className="num">{fmtUsd(b.value_usd)}</td>
              <td className="num">{pct(b.weight)}</td>
              <td className="num">{pct(b.target)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h4>By bot</h4>
      <table>
        <thead>
          <tr>
            <th>Bot</th>
            <th className="num">Fills</th>
            <th className="num">Failed</th>
            <th className="num">Realised</th>
            <th>Positions</th>
          </tr>
        </thead>
        <tbody>
          {Object.entries<any>(book.bots ?? {}).map(([id, b]) => (
            <tr key={id}>
              <td>
                <a href={`#/bots/${encodeURIComponent(id)}`}>{id}</a>
              </td>
              <td className="num">{b.fills}</td>
              <td className="num">{b.failed}</td>
              <td className="num">{fmtUsd(b.realised_usd)}</td>
              <td>
                {Object.entries<number>(b.positions ?? {})
                  .map(([t, q]) => `${t} ${q >= 0 ? '+' : ''}${q.toPrecision(4)}`)
                  .join(', ')}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <h4>Rebalancing plan{book.plan_at ? ` (${new Date(book.plan_at).toLocaleTimeString()})` : ''}</h4>
      {(book.plan ?? []).length === 0 ? (
        <p className="muted">Within the thresholds: nothing to trade.</p>
      ) : (
        <table data-testid="plan">
          <thead>
            <tr>
              <th>Sell</th>
              <th>Buy</th>
              <th className="num">Amount</th>
              <th className="num">Value</th>
              <th>Route</th>
              <th className="num">Expected out</th>
            </tr>
          </thead>
          <tbody>
            {book.plan.map((p: any, i: number) => (
              <tr key={i}>
                <td>{p.sell}</td>
                <td>{p.buy}</td>
                <td className="num">{Number(p.amount).toPrecision(6)}</td>
                <td className="num">{fmtUsd(p.value_usd)}</td>
                <td>{Array.isArray(p.route) ? p.route.join(' → ') : p.error}</td>
                <td className="num">{typeof p.expected_out === 'number' ? p.expected_out.toPrecision(8) : '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  )
}
