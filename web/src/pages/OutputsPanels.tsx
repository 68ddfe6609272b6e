import { fmtUsd } from '../api'
import { Table, type Column } from '../components/Table'
import { SCORED, type CrossChainPair, type CrossChainView, type MlView, type Scored, type WalkForward } from '../outputs'

const num = (v: unknown, digits = 1) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '—')

const scoreColumns = (e: WalkForward): Column<Scored>[] => [
  { header: `Walk-forward (${e.folds} folds)`, cell: (k) => k.replace(/_/g, ' ') },
  { header: 'predictions', className: 'num', cell: (k) => e[k]?.n },
  { header: 'RMSE (bps)', className: 'num', cell: (k) => num(e[k]?.rmse_bps) },
  { header: 'direction', className: 'num', cell: (k) => `${num((e[k]?.direction_hit_rate ?? NaN) * 100)} %` },
]

/** An ml_analytics bot's predictions, regime and walk-forward evaluation (`outputs.ml`). */
export function MlPanel({ ml }: { ml: MlView }) {
  return (
    <section data-testid="ml">
      <h3>Predictions</h3>
      {(ml.pairs ?? []).map((p) => (
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
          {p.evaluation && <Table columns={scoreColumns(p.evaluation)} rows={SCORED} rowKey={(k) => k} />}
        </div>
      ))}
    </section>
  )
}

const PAIR_COLUMNS: Column<CrossChainPair>[] = [
  { header: 'Pair', cell: (p) => p.pair },
  {
    header: 'Venue bid / ask',
    className: 'num',
    cell: (p) => (p.venue ? `${num(p.venue.bid, 4)} / ${num(p.venue.ask, 4)} (${p.venue.age_ms} ms)` : 'no quote'),
  },
  { header: 'Solana mid', className: 'num', cell: (p) => num(p.solana?.mid, 4) },
  { header: 'Gap: buy Solana', className: 'num', cell: (p) => `${num(p.gap_bps?.buy_solana_sell_venue)} bps` },
  { header: 'Gap: buy venue', className: 'num', cell: (p) => `${num(p.gap_bps?.buy_venue_sell_solana)} bps` },
]

/** A cross_chain_arbitrage bot's gaps, inventory per side and bridge transfers (`outputs.cross_chain`). */
export function CrossChainPanel({ cc }: { cc: CrossChainView }) {
  const inv: Partial<CrossChainView['inventory']> = cc.inventory ?? {}
  const tokens = Array.from(new Set([...Object.keys(inv.solana ?? {}), ...Object.keys(inv.venue ?? {})]))
  const tokenColumns: Column<string>[] = [
    { header: 'Token', cell: (t) => t },
    { header: 'Solana', className: 'num', cell: (t) => num(inv.solana?.[t], 4) },
    { header: 'Venue', className: 'num', cell: (t) => num(inv.venue?.[t], 4) },
    { header: 'In transit', className: 'num', cell: (t) => num(inv.in_transit?.[t] ?? 0, 4) },
    { header: 'Drift', className: 'num', cell: (t) => `${num(cc.drift_pct?.[t])} %` },
  ]
  return (
    <section data-testid="cross-chain">
      <h3>Cross-chain</h3>
      <Table columns={PAIR_COLUMNS} rows={cc.pairs ?? []} rowKey={(p) => p.pair} />
      <Table columns={tokenColumns} rows={tokens} rowKey={(t) => t} />
      <p className="muted">
        {cc.trade_count} trades · realised {fmtUsd(cc.realised_usd)} (bridge fees included) ·{' '}
        {(cc.transfers ?? []).filter((t) => t.state === 'in flight').length} transfers in flight
      </p>
    </section>
  )
}
