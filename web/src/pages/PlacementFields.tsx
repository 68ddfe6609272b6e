import type { CreateBot } from '../generated/api'
import { REPLICABLE } from './ReplicasPanel'

/** Where a new bot goes, as the form holds it (text fields as typed). */
export type PlacementForm = {
  nodeId: string
  labels: string
  cores: string
  failover: '' | 'yes' | 'no'
  replicas: string
}

export const NEW_PLACEMENT: PlacementForm = { nodeId: 'local', labels: '', cores: '0', failover: '', replicas: '1' }

/**
 * The placement part of `POST /api/v1/bots`, or what is wrong with the form: labels as
 * `region=ny,rack=3`, cores and replicas as whole numbers (the server checks their ranges).
 */
export function placementRequest(p: PlacementForm, botType: string): Omit<CreateBot, 'config'> | string {
  const labels: Record<string, string> = {}
  for (const part of p.labels.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [k, v, ...rest] = part.split('=')
    if (!k || v === undefined || v === '' || rest.length) return `labels: expected key=value pairs separated by commas (got "${part}")`
    labels[k.trim()] = v.trim()
  }
  const whole = (s: string) => (/^\d{1,3}$/.test(s.trim()) ? Number(s.trim()) : null)
  const cores = whole(p.cores)
  if (cores === null) return 'cores: a whole number (0: none asked of the gateway)'
  const replicas = REPLICABLE.includes(botType) ? whole(p.replicas) : 1
  if (replicas === null) return 'replicas: a whole number (1: the bot alone)'
  const req: Omit<CreateBot, 'config'> = { node_id: p.nodeId }
  if (Object.keys(labels).length) req.labels = labels
  if (cores > 0) req.cores = cores
  if (p.failover) req.failover = p.failover === 'yes'
  if (replicas !== 1) req.replicas = replicas
  return req
}

/** The placement fields of the new-bot form: node (or auto), labels, cores, failover, replicas. */
export function PlacementFields({
  value,
  onChange,
  nodes,
  botType,
}: {
  value: PlacementForm
  onChange: (p: PlacementForm) => void
  nodes: string[]
  botType: string
}) {
  const set = (k: keyof PlacementForm) => (e: { target: { value: string } }) => onChange({ ...value, [k]: e.target.value })
  const choices = nodes.length ? nodes : value.nodeId === 'auto' ? [] : [value.nodeId]
  return (
    <div className="row" data-testid="placement">
      <label>
        Node
        <select value={value.nodeId} onChange={set('nodeId')} aria-label="node">
          <option value="auto">auto (the gateway places it)</option>
          {choices.map((n) => (
            <option key={n}>{n}</option>
          ))}
        </select>
      </label>
      {value.nodeId === 'auto' && (
        <label>
          Labels
          <input value={value.labels} onChange={set('labels')} placeholder="region=ny,rack=3" aria-label="labels" />
        </label>
      )}
      <label title="Free cores the gateway chooses on the node (the configuration's resources.cores then stays empty)">
        Cores
        <input type="number" min={0} max={64} value={value.cores} onChange={set('cores')} aria-label="cores" />
      </label>
      <label title="Placed again on another node when its node is lost">
        Failover
        <select value={value.failover} onChange={set('failover')} aria-label="failover">
          <option value="">default (paper bots do)</option>
          <option value="yes">yes</option>
          <option value="no">no</option>
        </select>
      </label>
      {REPLICABLE.includes(botType) && (
        <label title="Instances, each on another node">
          Replicas
          <input type="number" min={1} max={16} value={value.replicas} onChange={set('replicas')} aria-label="replicas" />
        </label>
      )}
    </div>
  )
}
