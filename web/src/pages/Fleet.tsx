import { useState } from 'react'
import { can, fmtNs, fmtStatus, fmtUsd, isFleetMessage, type FleetBotRow, type FleetData, type Role, type StageLatency } from '../api'
import { Table, type Column } from '../components/Table'
import type { NodeRow, Percentiles } from '../generated/api'
import { ENVIRONMENTS, useEnv } from '../env'
import { PNL_RANGES, PnlChart } from './TradesPanel'
import { ImportPanel } from './ImportPanel'
import { useApi, useStream } from '../hooks'
import { go } from '../router'
import { fmtBuild } from './Rollouts'

/** The stage shown in the table: the decision (the engine's hot path), else the last one. */
function decisionStage(l: StageLatency): Percentiles | null {
  return l.decided ?? l[Object.keys(l).sort().pop() ?? ''] ?? null
}

export function Fleet({ role }: { role: Role }) {
  const [data, setData] = useState<FleetData | null>(null)
  const [updatedAt, setUpdatedAt] = useState(0)
  const live = useStream('metrics', ['fleet'], (m) => {
    if (isFleetMessage(m) && m.data) {
      setData(m.data)
      setUpdatedAt(m.at)
    }
  })
  // The environment switcher: the bots of one environment, the nodes serving it, its latency.
  const env = useEnv()
  const nodes = useApi('GET /api/v1/nodes', env ? { query: { env } } : {}, { intervalMs: 5_000 }).data?.nodes ?? []
  const envMetrics = useApi('GET /api/v1/system/metrics', env ? { query: { env } } : null, { intervalMs: 2_000 }).data
  const rows = (data?.bot_rows ?? []).filter((b) => !env || b.environment === env)
  const now = Date.now()
  const fleetStage = env ? (envMetrics ? decisionStage(envMetrics.latency_ns) : null) : data ? decisionStage(data.latency_ns) : null
  const scope = env ?? 'Fleet'
  const [pnlRange, setPnlRange] = useState('24 h')
  // One line an environment: the one switched to, else each the fleet's bots are in.
  const pnlScopes = env ? [`env:${env}`] : ENVIRONMENTS.filter((e) => (data?.bot_rows ?? []).some((b) => b.environment === e)).map((e) => `env:${e}`)
  const botColumns: Column<FleetBotRow>[] = [
    {
      header: 'Bot',
      cell: (b) => (
        <>
          <a href={`#/bots/${encodeURIComponent(b.bot_id)}`}>{b.bot_id}</a>
          {b.replica_of && <span className="muted"> replica of {b.replica_of}</span>}
        </>
      ),
    },
    { header: 'Env', cell: (b) => <EnvPill env={b.environment} /> },
    { header: 'Type', cell: (b) => b.bot_type },
    { header: 'Node', cell: (b) => b.node_id || '—' },
    { header: 'Cores', cell: (b) => (b.cores.length ? b.cores.join(',') : '—') },
    { header: 'Desired', cell: (b) => b.desired_state },
    {
      header: 'Status',
      cell: (b) => {
        if (b.pending)
          return (
            <span className="pill warn" data-testid="status" title={b.pending}>
              pending: {b.pending}
            </span>
          )
        const stale = b.reported_at !== null && now - b.reported_at > 10_000
        const status = fmtStatus(b.status)
        return (
          <>
            <span className={`pill ${statusClass(status)}`} data-testid="status">
              {status}
            </span>
            {stale && <span className="muted"> (stale)</span>}
          </>
        )
      },
    },
    { header: 'Trades', className: 'num', cell: (b) => b.trades_executed ?? '—' },
    { header: 'PnL', className: 'num', cell: (b) => fmtUsd(b.profit_usd) },
    { header: 'p50', className: 'num', cell: (b) => fmtNs(decisionStage(b.latency_ns)?.p50) },
    { header: 'p99', className: 'num', cell: (b) => fmtNs(decisionStage(b.latency_ns)?.p99) },
  ]
  const nodeColumns: Column<NodeRow>[] = [
    { header: 'Node', cell: (n) => n.node_id },
    { header: 'Host', cell: (n) => n.hostname },
    { header: 'Backend', cell: (n) => n.backend },
    {
      header: 'Labels',
      cell: (n) =>
        Object.entries(n.labels)
          .map(([k, v]) => `${k}=${v}`)
          .join(', ') || '—',
    },
    { header: 'Serves', cell: (n) => (n.environments ?? ['dev', 'test', 'prod']).join(', ') },
    {
      header: 'Failover after',
      cell: (n) => {
        const own = typeof n.failover_after_ms === 'number' ? `${n.failover_after_ms / 1000} s` : 'the gateway’s'
        const floor = n.window_floor && n.window_floor.until > now ? ` (${n.window_floor.window_ms / 1000} s for now)` : ''
        return own + floor
      },
    },
    { header: 'Cores', className: 'num', cell: (n) => n.cores },
    {
      header: 'Isolated',
      cell: (n) => (Array.isArray(n.isolated_cores) && n.isolated_cores.length ? n.isolated_cores.join(',') : '—'),
    },
    { header: 'Memory', className: 'num', cell: (n) => `${n.memory_mb} MB` },
    {
      header: 'Agent build',
      cell: (n) => (
        <>
          {fmtBuild(n.agent)}
          {n.installed && n.agent && n.installed.build_id !== n.agent.build_id && (
            <span className="pill warn" title="installed at its --exe; a rollout to its version upgrades the agent">
              {' '}
              installed {fmtBuild(n.installed)}
            </span>
          )}
        </>
      ),
    },
    {
      header: 'Last heartbeat',
      cell: (n) => (
        <span className={`pill ${now - n.last_heartbeat < 15_000 ? 'ok' : 'bad'}`}>
          {Math.max(0, Math.round((now - n.last_heartbeat) / 1000))} s ago
        </span>
      ),
    },
  ]
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
        <Tile label="Bots" value={data ? String(rows.length) : '—'} />
        <Tile label="Running" value={data ? String(rows.filter((b) => b.desired_state === 'running').length) : '—'} />
        <Tile label="Nodes" value={env ? String(nodes.length) : data ? String(data.nodes) : '—'} />
        <Tile label={`${scope} p50 (decided)`} value={fmtNs(fleetStage?.p50)} />
        <Tile label={`${scope} p99 (decided)`} value={fmtNs(fleetStage?.p99)} />
        <Tile
          label={env ? `PnL (${env} bots)` : 'PnL (all bots)'}
          value={fmtUsd(data ? rows.reduce((a, b) => a + (typeof b.profit_usd === 'number' ? b.profit_usd : 0), 0) : undefined)}
        />
      </section>
      <ImportPanel canWrite={can(role, 'operator')}>
      <div className="row">
        <h3>PnL over time</h3>
        <span className="grow" />
        <select value={pnlRange} onChange={(e) => setPnlRange(e.target.value)} aria-label="PnL range">
          {Object.keys(PNL_RANGES).map((r) => (
            <option key={r}>{r}</option>
          ))}
        </select>
      </div>
      <PnlChart scopes={pnlScopes} range={PNL_RANGES[pnlRange]} label="cumulative PnL per environment" />
      <h3>Bots</h3>
      <Table
        testId="bots-table"
        columns={botColumns}
        rows={rows}
        rowKey={(b) => b.bot_id}
        rowProps={(b) => ({ 'data-bot': b.bot_id })}
        empty={data ? 'No bots yet.' : undefined}
      />
      <h3>Nodes</h3>
      <Table testId="nodes-table" columns={nodeColumns} rows={nodes} rowKey={(n) => n.node_id} />
      </ImportPanel>
    </main>
  )
}

/** An environment as a pill: prod stands out. */
export function EnvPill({ env }: { env: string }) {
  return (
    <span className={`pill env-${env} ${env === 'prod' ? 'bad' : 'muted-pill'}`} data-testid="env">
      {env}
    </span>
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
