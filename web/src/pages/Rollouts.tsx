import { useState } from 'react'
import { ApiError, call, can, isRolloutsMessage, type Role } from '../api'
import { ConfirmButton } from '../components/Confirm'
import { Table, type Column } from '../components/Table'
import type { Build, Rollout, RolloutStep } from '../generated/api'
import { useEnv } from '../env'
import { useApi, useStream } from '../hooks'

/** A build as `version (first 12 of its id)`. */
export function fmtBuild(b: Build | null | undefined): string {
  return b ? `${b.version} (${b.build_id.slice(0, 12)})` : '—'
}

const STATE_CLASS: Record<string, string> = {
  running: 'warn',
  in_progress: 'warn',
  paused: 'bad',
  failed: 'bad',
  aborted: 'muted',
  skipped: 'muted',
  completed: 'ok',
  done: 'ok',
  pending: '',
}

const STEP_COLUMNS: Column<RolloutStep>[] = [
  { header: 'Node', cell: (s) => s.node_id },
  { header: 'What', cell: (s) => (s.kind === 'agent' ? 'agent' : s.bot_id) },
  {
    header: 'State',
    cell: (s) => (
      <span className={`pill ${STATE_CLASS[s.state] ?? ''}`} data-testid="step-state">
        {s.state}
      </span>
    ),
  },
  { header: 'From', cell: (s) => fmtBuild(s.from) },
  { header: 'To', cell: (s) => fmtBuild(s.to) },
  { header: 'What happened', cell: (s) => s.message ?? '—' },
  { header: 'Ended', cell: (s) => (s.finished_at ? new Date(s.finished_at).toLocaleTimeString() : '—') },
]

/** The rollouts page: start one, follow each one's steps live, pause, resume or abort it. */
export function Rollouts({ role }: { role: Role }) {
  const listed = useApi('GET /api/v1/rollouts', {}, { intervalMs: 10_000 })
  const [live, setLive] = useState<Rollout[] | null>(null)
  useStream('metrics', ['rollouts'], (m) => {
    if (isRolloutsMessage(m)) setLive(m.data.rollouts)
  })
  // The environment switcher: that environment's rollouts and the fleet-wide ones.
  const env = useEnv()
  const rollouts = (live ?? listed.data?.rollouts ?? []).filter(
    (r) => !env || r.scope === `env:${env}` || r.scope === 'fleet',
  )
  return (
    <main>
      <header className="page-head">
        <h2>Rollouts</h2>
        <span className="muted">node by node, warm handovers, paused at the first failure</span>
      </header>
      {listed.error && <div className="error">{listed.error}</div>}
      {can(role, 'operator') && <RolloutForm onStarted={() => void listed.reload()} />}
      {!rollouts.length && <p className="muted">No rollouts yet.</p>}
      {rollouts.map((r) => (
        <RolloutCard key={r.rollout_id} rollout={r} role={role} onChanged={() => void listed.reload()} />
      ))}
    </main>
  )
}

function RolloutCard({ rollout: r, role, onChanged }: { rollout: Rollout; role: Role; onChanged: () => void }) {
  const [error, setError] = useState('')
  const ended = r.steps.filter((s) => s.state !== 'pending' && s.state !== 'in_progress').length
  const act = async (action: 'pause' | 'resume' | 'abort') => {
    try {
      const params = { params: { rollout_id: r.rollout_id } }
      if (action === 'pause') await call('POST /api/v1/rollouts/{rollout_id}/pause', params)
      else if (action === 'resume') await call('POST /api/v1/rollouts/{rollout_id}/resume', params)
      else await call('POST /api/v1/rollouts/{rollout_id}/abort', params)
      setError('')
      onChanged()
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e))
    }
  }
  return (
    <section className="card" data-testid={`rollout-${r.rollout_id}`}>
      <div className="row">
        <b>{r.target}</b>
        <span className="muted">
          {r.scope} · {r.max_unavailable} at a time · by {r.created_by} at {new Date(r.created_at).toLocaleString()}
        </span>
        <span className={`pill ${STATE_CLASS[r.state] ?? ''}`} data-testid="rollout-state">
          {r.state}
        </span>
        <span className="muted" data-testid="rollout-progress">
          {ended}/{r.steps.length} steps
        </span>
        <span className="grow" />
        {can(role, 'operator') && r.state === 'running' && <button onClick={() => void act('pause')}>Pause</button>}
        {can(role, 'operator') && r.state === 'paused' && <button onClick={() => void act('resume')}>Resume</button>}
        {can(role, 'operator') && (r.state === 'running' || r.state === 'paused') && (
          <ConfirmButton
            label="Abort"
            danger
            question={<>Abort rollout {r.rollout_id}? Its steps left are skipped.</>}
            onConfirm={() => act('abort')}
          />
        )}
      </div>
      {r.reason && <div className="error">{r.reason}</div>}
      {error && (
        <div className="error" role="alert">
          {error}
        </div>
      )}
      <progress max={Math.max(r.steps.length, 1)} value={ended} />
      <Table
        testId="rollout-steps"
        columns={STEP_COLUMNS}
        rows={r.steps}
        rowKey={(s) => `${s.node_id}/${s.kind ?? 'bot'}/${s.bot_id}`}
      />
    </section>
  )
}

function RolloutForm({ onStarted }: { onStarted: () => void }) {
  const [target, setTarget] = useState('restart')
  const [scope, setScope] = useState('fleet')
  const [maxUnavailable, setMaxUnavailable] = useState('1')
  const [pause, setPause] = useState(true)
  const [message, setMessage] = useState('')
  const start = async (e: React.FormEvent) => {
    e.preventDefault()
    try {
      const r = await call('POST /api/v1/rollouts', {
        body: { target, scope, max_unavailable: Number(maxUnavailable), pause_on_failure: pause },
      })
      setMessage(`rollout ${r.rollout_id} started over ${r.steps.length} step(s)`)
      onStarted()
    } catch (err) {
      setMessage(err instanceof Error ? err.message : String(err))
    }
  }
  return (
    <form className="card" onSubmit={start}>
      <h4>Start a rollout</h4>
      <div className="row">
        <label>
          Target <input value={target} onChange={(e) => setTarget(e.target.value)} placeholder="restart or a version" required />
        </label>
        <label>
          Scope <input value={scope} onChange={(e) => setScope(e.target.value)} placeholder="fleet, node:<id>, type:<t>, env:<e>" required />
        </label>
        <label>
          At a time <input type="number" min={1} max={64} value={maxUnavailable} onChange={(e) => setMaxUnavailable(e.target.value)} />
        </label>
        <label>
          <input type="checkbox" checked={pause} onChange={(e) => setPause(e.target.checked)} /> Pause at the first failure
        </label>
        <button className="primary" type="submit">
          Start
        </button>
      </div>
      {message && (
        <div className="muted" data-testid="rollout-message">
          {message}
        </div>
      )}
    </form>
  )
}
