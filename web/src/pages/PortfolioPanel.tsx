import { fmtUsd } from '../api'
import { Table, type Column } from '../components/Table'
import type { PlanTrade, PortfolioBalance, PortfolioBook, PortfolioBotBook } from '../outputs'

const pct = (v: unknown) => (typeof v === 'number' ? `${(v * 100).toFixed(1)} %` : '—')

const BALANCE_COLUMNS: Column<PortfolioBalance>[] = [
  { header: 'Token', cell: (b) => b.token },
  { header: 'Quantity', className: 'num', cell: (b) => Number(b.quantity).toLocaleString(undefined, { maximumFractionDigits: 6 }) },
  { header: 'Price', className: 'num', cell: (b) => (typeof b.price_usd === 'number' ? `$${b.price_usd.toPrecision(6)}` : '—') },
  { header: 'Value', className: 'num', cell: (b) => fmtUsd(b.value_usd) },
  { header: 'Weight', className: 'num', cell: (b) => pct(b.weight) },
  { header: 'Target', className: 'num', cell: (b) => pct(b.target) },
]

const BOT_COLUMNS: Column<[string, PortfolioBotBook]>[] = [
  { header: 'Bot', cell: ([id]) => <a href={`#/bots/${encodeURIComponent(id)}`}>{id}</a> },
  { header: 'Fills', className: 'num', cell: ([, b]) => b.fills },
  { header: 'Failed', className: 'num', cell: ([, b]) => b.failed },
  { header: 'Realised', className: 'num', cell: ([, b]) => fmtUsd(b.realised_usd) },
  {
    header: 'Positions',
    cell: ([, b]) =>
      Object.entries(b.positions ?? {})
        .flatMap(([t, q]) => (q === undefined ? [] : [`${t} ${q >= 0 ? '+' : ''}${q.toPrecision(4)}`]))
        .join(', '),
  },
]

const PLAN_COLUMNS: Column<PlanTrade>[] = [
  { header: 'Sell', cell: (p) => p.sell },
  { header: 'Buy', cell: (p) => p.buy },
  { header: 'Amount', className: 'num', cell: (p) => Number(p.amount).toPrecision(6) },
  { header: 'Value', className: 'num', cell: (p) => fmtUsd(p.value_usd) },
  { header: 'Route', cell: (p) => (Array.isArray(p.route) ? p.route.join(' → ') : p.error) },
  { header: 'Expected out', className: 'num', cell: (p) => (typeof p.expected_out === 'number' ? p.expected_out.toPrecision(8) : '—') },
]

/**
 * A portfolio_manager bot's books (`outputs.portfolio`, bots/src/portfolio.rs): balances marked
 * to USD with weights and targets, PnL per bot, exposure alerts and the rebalancing plan.
 */
export function PortfolioPanel({ book }: { book: PortfolioBook }) {
  const bots = Object.entries(book.bots ?? {}).flatMap(([id, b]): [string, PortfolioBotBook][] => (b ? [[id, b]] : []))
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
      {(book.alerts ?? []).map((a, i) => (
        <div key={i} className="error" role="alert">
          {a.message}
        </div>
      ))}
      <Table columns={BALANCE_COLUMNS} rows={book.balances ?? []} rowKey={(b) => b.token} />
      <h4>By bot</h4>
      <Table columns={BOT_COLUMNS} rows={bots} rowKey={([id]) => id} />
      <h4>Rebalancing plan{book.plan_at ? ` (${new Date(book.plan_at).toLocaleTimeString()})` : ''}</h4>
      {(book.plan ?? []).length === 0 ? (
        <p className="muted">Within the thresholds: nothing to trade.</p>
      ) : (
        <Table testId="plan" columns={PLAN_COLUMNS} rows={book.plan} rowKey={(_, i) => i} />
      )}
    </section>
  )
}
