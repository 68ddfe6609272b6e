import { fmtUsd } from '../api'

const num = (v: unknown, digits = 1) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '—')

/** An ml_analytics bot's predictions, regime and walk-forward evaluation (`outputs.ml`). */
export function MlPanel({ ml }: { ml: any }) {
  return (
    <section data-testid="ml">
      <h3>Predictions</h3>
      {(ml.pairs ?? []).map((p: any) => (
        <div key={p.pair}>
          <div className="row">
            <b>{p.pair}</b>
            <span className="muted">
              {p.samples} samples{p.trained_at_sample ? `, trained at sample ${p.trained_at_sample}` : ', training after 120 labelled samples'}
            </span>
            {p.regime && <span className={`pill ${p.regime === 'volatile' ? 'bad' : p.regime === 'calm' ? 'ok' : 'warn'}`}>{p.regime}</span>}
          </div>
          {p.prediction && (
            <table className="kv">
              <tbody>
                <tr>
                  <th>ensemble, next {p.prediction.horizon_minutes} min</th>
                  <td>
                    {num(p.prediction.return_bps, 2)} bps · confidence {num(p.prediction.confidence, 2)} · signal <b>{p.prediction.signal}</b>
                  </td>
                </tr>
                <tr>
                  <th>LSTM / forest / linear</th>
                  <td>
                    {num(p.prediction.lstm_bps, 2)} / {num(p.prediction.random_forest_bps, 2)} / {num(p.prediction.linear_bps, 2)} bps
                  </td>
                </tr>
              </tbody>
            </table>
          )}
          {p.evaluation && (
            <table>
              <thead>
                <tr>
                  <th>Walk-forward ({p.evaluation.folds} folds)</th>
                  <th className="num">predictions</th>
                  <th className="num">RMSE (bps)</th>
                  <th className="num">direction</th>
                </tr>
              </thead>
              <tbody>
                {['lstm', 'random_forest', 'linear', 'ensemble', 'ensemble_confident', 'naive_zero_return', 'naive_momentum'].map((k) => (
                  <tr key={k}>
                    <td>{k.replace(/_/g, ' ')}</td>
                    <td className="num">{p.evaluation[k]?.n}</td>
                    <td className="num">{num(p.evaluation[k]?.rmse_bps)}</td>
                    <td className="num">{num((p.evaluation[k]?.direction_hit_rate ?? NaN) * 100)} %</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
      ))}
    </section>
  )
}

/** A cross_chain_arbitrage bot's gaps, inventory per side and bridge transfers (`outputs.cross_chain`). */
export function CrossChainPanel({ cc }: { cc: any }) {
  const inv = cc.inventory ?? {}
  const tokens = Array.from(new Set([...Object.keys(inv.solana ?? {}), ...Object.keys(inv.venue ?? {})]))
  return (
    <section data-testid="cross-chain">
      <h3>Cross-chain</h3>
      <table>
        <thead>
          <tr>
            <th>Pair</th>
            <th className="num">Venue bid / ask</th>
            <th className="num">Solana mid</th>
            <th className="num">Gap: buy Solana</th>
            <th className="num">Gap: buy venue</th>
          </tr>
        </thead>
        <tbody>
          {(cc.pairs ?? []).map((p: any) => (
            <tr key={p.pair}>
              <td>{p.pair}</td>
              <td className="num">{p.venue ? `${num(p.venue.bid, 4)} / ${num(p.venue.ask, 4)} (${p.venue.age_ms} ms)` : 'no quote'}</td>
              <td className="num">{num(p.solana?.mid, 4)}</td>
              <td className="num">{num(p.gap_bps?.buy_solana_sell_venue)} bps</td>
              <td className="num">{num(p.gap_bps?.buy_venue_sell_solana)} bps</td>
            </tr>
          ))}
        </tbody>
      </table>
      <table>
        <thead>
          <tr>
            <th>Token</th>
            <th className="num">Solana</th>
            <th className="num">Venue</th>
            <th className="num">In transit</th>
            <th className="num">Drift</th>
          </tr>
        </thead>
        <tbody>
          {tokens.map((t) => (
            <tr key={t}>
              <td>{t}</td>
              <td className="num">{num(inv.solana?.[t], 4)}</td>
              <td className="num">{num(inv.venue?.[t], 4)}</td>
              <td className="num">{num(inv.in_transit?.[t] ?? 0, 4)}</td>
              <td className="num">{num(cc.drift_pct?.[t])} %</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="muted">
        {cc.trade_count} trades · realised {fmtUsd(cc.realised_usd)} (bridge fees included) ·{' '}
        {(cc.transfers ?? []).filter((t: any) => t.state === 'in flight').length} transfers in flight
      </p>
    </section>
  )
}
