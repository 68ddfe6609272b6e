import { useEffect, useState } from 'react'
import { api, can, fmtNs, fmtStatus, fmtUsd, stream, type Role } from '../api'
import { go } from '../router'

interface BotRow {
  bot_id: string
  bot_type: string
  node_id: string
  desired_state: string
  config_version: number
  status: unknown
  reported_at: number | null
  trades_executed: number | null
  profit_usd: number | null
  latency_ns: Record<string, { p50: number; p99: number; count: number }>
}

interface FleetData {
  bots: number
  running: number
  nodes: number
  latency_ns: Record<string, { p50: number; p99: number; p999: number; count: number }>
  bot_rows: BotRow[]
}

/** The stage shown in the table: the decision (the engine's hot path), else the last one. */
function decisionStage(l: Record<string, any>): any {
  return l.decided ?? l[Object.keys(l).sort().pop() ?? ''] ?? null
}

export function Fleet({ role }: { role: Role }) {
  const [data, setData] = useState<FleetData | null>(null)
  const [nodes, setNodes] = useState<any[]>([])
  const [live, setLive] = useState(false)
  const [updatedAt, setUpdatedAt] = useState(0)
  useEffect(() => {
    const s = stream(
      'metrics',
      ['fleet'],
      (m) => {
        if (m.topic === 'fleet' && m.data) {
          setData(m.data)
          setUpdatedAt(m.at)
        }
      },
      setLive,
    )
    const loadNodes = () =>
      api('GET', '/api/v1/nodes')
        .then((r) => setNodes(r.nodes))
        .catch(() => {})
    loadNodes()
    const t = setInterval(loadNodes, 5_000)
    return () => {
      s.close()
      clearInterval(t)
    }
  }, [])
  const now = Date.now()
  const fleetStage = data ? decisionStage(data.latency_ns) : null
  return (
    <main>
      <header className="page-head">
        <h2>Fleet</h2>
        <span className={`pill ${live ? 'ok' : 'warn'}`} data-testid="live">
          {live ? 'live' : 'reconnecting'}
        </span>
        {updatedAt > 0 && <span className="muted">updated {new Date(updatedAt).toLocaleTimeString()}</span>}
        <span className="grow" />
        {can(role, 'operator') && (
          <button className="primary" onClick={() => go('bots', 'new')}>
            New bot
          </button>
        )}
      </header>
      <section className="tiles">
        <Tile label="Bots" value={data ? String(data.bots) : '—'} />
        <Tile label="Running" value={data ? String(data.running) : '—'} />
        <Tile label="Nodes" value={data ? String(data.nodes) : '—'} />
        <Tile label="Fleet p50 (decided)" value={fmtNs(fleetStage?.p50)} />
        <Tile label="Fleet p99 (decided)" value={fmtNs(fleetStage?.p99)} />
        <Tile
          label="PnL (all bots)"
          value={fmtUsd(data?.bot_rows.reduce((a, b) => a + (typeof b.profit_usd === 'number' ? b.profit_usd : 0), 0))}
        />
      </section>
      <h3>Bots</h3>
      <table data-testid="bots-table">
        <thead>
          <tr>
            <th>Bot</th>
            <th>Type</th>
            <th>Node</th>
            <th>Desired</th>
            <th>Status</th>
            <th className="num">Trades</th>
            <th className="num">PnL</th>
            <th className="num">p50</th>
            <th className="num">p99</th>
          </tr>
        </thead>
        <tbody>
          {data?.bot_rows.map((b) => {
            const st = decisionStage(b.latency_ns)
            const stale = b.reported_at !== null && now - b.reported_at > 10_000
            const status = fmtStatus(b.status)
            return (
              <tr key={b.bot_id} data-bot={b.bot_id}>
                <td>
                  <a href={`#/bots/${encodeURIComponent(b.bot_id)}`}>{b.bot_id}</a>
                </td>
                <td>{b.bot_type}</td>
                <td>{b.node_id}</td>
                <td>{b.desired_state}</td>
                <td>
                  <span className={`pill ${statusClass(status)}`} data-testid="status">
                    {status}
                  </span>
                  {stale && <span className="muted"> (stale)</span>}
                </td>
                <td className="num">{b.trades_executed ?? '—'}</td>
                <td className="num">{fmtUsd(b.profit_usd)}</td>
                <td className="num">{fmtNs(st?.p50)}</td>
                <td className="num">{fmtNs(st?.p99)}</td>
              </tr>
            )
          })}
          {data && data.bot_rows.length === 0 && (
            <tr>
              <td colSpan={9} className="muted">
                No bots yet.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      <h3>Nodes</h3>
      <table data-testid="nodes-table">
        <thead>
          <tr>
            <th>Node</th>
            <th>Host</th>
            <th>Backend</th>
            <th className="num">Cores</th>
            <th>Isolated</th>
            <th className="num">Memory</th>
            <th>Last heartbeat</th>
          </tr>
        </thead>
        <tbody>
          {nodes.map((n) => (
            <tr key={n.node_id}>
              <td>{n.node_id}</td>
              <td>{n.hostname}</td>
              <td>{n.backend}</td>
              <td className="num">{n.cores}</td>
              <td>{Array.isArray(n.isolated_cores) && n.isolated_cores.length ? n.isolated_cores.join(',') : '—'}</td>
              <td className="num">{n.memory_mb} MB</td>
              <td>
                <span className={`pill ${now - n.last_heartbeat < 15_000 ? 'ok' : 'bad'}`}>
                  {Math.max(0, Math.round((now - n.last_heartbeat) / 1000))} s ago
                </span>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </main>
  )
}

export function statusClass(status: string): string {
  if (status === 'running') return 'ok'
  if (status.startsWith('error')) return 'bad'
  if (status === 'unreported' || status === 'stopped') return 'muted-pill'
  return 'warn'
}

function Tile({ label, value }: { label: string; value: string }) {
  return (
    <div className="tile">
      <div className="muted">{label}</div>
      <div className="big">{value}</div>
    </div>
  )
}
