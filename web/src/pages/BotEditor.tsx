import { useEffect, useRef, useState } from 'react'
import { NEW_PLACEMENT, PlacementFields, placementRequest, type PlacementForm } from './PlacementFields'
import { ApiError, BOT_TYPES, call, isRecord, type FieldError } from '../api'
import { DropZone } from '../components/DropZone'
import { SchemaForm } from '../components/SchemaForm'
import { CONFIG_DRAG_TYPE, checkConfig, cloneOf, readConfigFiles, takeHandoff } from '../configImport'
import type { BotConfig, BotType, ConfigUpdated } from '../generated/api'
import { useApi } from '../hooks'
import { go } from '../router'

/**
 * The configuration as edited, as the API takes it (`null` while there is none). The form built
 * it from a stored configuration or template of the bot type's JSON Schema; the gateway checks
 * it and its errors show at their fields.
 */
function asBotConfig(config: unknown): BotConfig | null {
  // Narrowing cast: the value comes from the JSON Schema-driven form (a field may hold text the
  // gateway refuses), so only the gateway can say whether it is a `BotConfig`.
  return isRecord(config) ? (config as BotConfig) : null
}

/** `name` as a bot type the UI knows, or null (a stored row may name one it does not). */
function botTypeOf(name: string): BotType | null {
  return BOT_TYPES.find((t) => t === name) ?? null
}

/** Creates a bot from its type's template (`id` undefined) or edits an existing bot's config. */
export function BotEditor({ id }: { id?: string }) {
  const [botType, setBotType] = useState<BotType>(BOT_TYPES[0])
  const [placement, setPlacement] = useState<PlacementForm>(NEW_PLACEMENT)
  // The configuration as edited: free-form until the server has validated it (a number field
  // may hold the text typed, so the server says what is wrong with it).
  const [config, setConfig] = useState<unknown>(null)
  const [version, setVersion] = useState<number | null>(null)
  const [errors, setErrors] = useState<FieldError[]>([])
  const [message, setMessage] = useState('')
  const [result, setResult] = useState<ConfigUpdated | null>(null)
  const [busy, setBusy] = useState(false)
  const [notice, setNotice] = useState('')

  const nodeList = useApi('GET /api/v1/nodes', {})
  const nodes = nodeList.data?.nodes.map((n) => n.node_id) ?? []
  useEffect(() => {
    const ids = nodeList.data?.nodes.map((n) => n.node_id) ?? []
    if (ids.length && !ids.includes('local')) setPlacement((p) => (p.nodeId === 'local' ? { ...p, nodeId: ids[0] } : p))
  }, [nodeList.data])
  // Existing bot: its current config and version.
  const existing = useApi('GET /api/v1/bots/{bot_id}', id ? { params: { bot_id: id } } : null)
  useEffect(() => {
    const r = existing.data
    if (!r) return
    const t = botTypeOf(r.bot.bot_type)
    if (t) setBotType(t)
    setConfig(r.config?.body ?? null)
    setVersion(r.config?.version ?? null)
  }, [existing.data])
  // The type's schema, and for a new bot its template.
  const schema = useApi('GET /api/v1/configs/schemas/{bot_type}', { params: { bot_type: botType } })
  const template = useApi('GET /api/v1/configs/templates/{bot_type}', id ? null : { params: { bot_type: botType } })
  // A configuration brought in (a file, a stored one, a clone) stands over the type's template.
  const imported = useRef(false)
  useEffect(() => {
    if (template.data && !imported.current) setConfig(template.data)
  }, [template.data])
  const stored = useApi('GET /api/v1/configs', {})
  /** Loads `cfg` into the form (an existing bot keeps its id and type) and checks it at once. */
  const load = async (cfg: Record<string, unknown>, from: string) => {
    const t = typeof cfg.bot_type === 'string' ? botTypeOf(cfg.bot_type) : null
    if (!t) {
      setMessage(`${from}: bot_type ${JSON.stringify(cfg.bot_type)} is not a bot type`)
      return
    }
    if (id && t !== botType) {
      setMessage(`${from}: a ${t} configuration cannot apply to ${id}, a ${botType} bot`)
      return
    }
    const next = id ? { ...cfg, bot_id: id } : cfg
    imported.current = true
    setBotType(t)
    setConfig(next)
    setResult(null)
    const checked = await checkConfig(next)
    setErrors(checked.errors)
    setMessage(
      checked.valid
        ? ''
        : checked.errors.length
          ? `${from}: ${checked.errors.length} error(s), shown at their fields: nothing is saved until you fix them and save`
          : `${from}: ${checked.message}`,
    )
    setNotice(checked.valid ? `${from.includes(' loaded as ') ? from : `${from} loaded`}: valid; not saved yet` : '')
  }
  useEffect(() => {
    // Once, on opening the new-bot editor: a configuration handed over (an import, a clone).
    if (id) return
    const handed = takeHandoff()
    if (handed) void load(handed, 'imported configuration')
  }, [])
  const dropFiles = async (files: File[]) => {
    const [first] = await readConfigFiles(files)
    if (!first) return
    if (!first.config) setMessage(`${first.name}: ${first.problem}`)
    else await load(first.config, first.name)
  }
  const useStored = async (configId: string) => {
    try {
      const c = await call('GET /api/v1/configs/{config_id}', { params: { config_id: configId } })
      const body = c.body as unknown as Record<string, unknown>
      // A new bot starts from it under another id: the stored configuration stays as it is.
      const fresh = id ? body : cloneOf(body)
      await load(fresh, id ? `configuration ${configId}` : `configuration ${configId} loaded as ${String(fresh.bot_id)}`)
    } catch (e) {
      setMessage(e instanceof Error ? e.message : String(e))
    }
  }
  const [templateName, setTemplateName] = useState('')
  const saveTemplate = async () => {
    const name = templateName.trim()
    const body = asBotConfig(config)
    if (!name || !body) return
    try {
      const r = await call('POST /api/v1/configs', { body: { config: { ...body, bot_id: name } } })
      setNotice(`template ${r.config_id} stored: drag it onto the editor (or press Use) to start from it`)
      setErrors([])
      setMessage('')
      void stored.reload()
    } catch (e) {
      if (e instanceof ApiError) {
        setErrors(e.fieldErrors())
        setMessage(e.message)
      } else setMessage(String(e))
    }
  }
  const loadError = existing.error || schema.error || template.error
  const chooseType = (name: string) => {
    const t = botTypeOf(name)
    if (!t) return
    setBotType(t)
    setErrors([])
    setMessage('')
  }

  const save = async () => {
    setBusy(true)
    setErrors([])
    setMessage('')
    setResult(null)
    try {
      const body = asBotConfig(config)
      if (!body) {
        setMessage('the configuration has not loaded yet')
        return
      }
      if (!id) {
        const where = placementRequest(placement, botType)
        if (typeof where === 'string') {
          setMessage(where)
          return
        }
        const r = await call('POST /api/v1/bots', { body: { config: body, ...where } })
        if (r.bot) go('bots', r.bot.bot_id)
        else go('')
      } else {
        const r = await call('PUT /api/v1/bots/{bot_id}', {
          params: { bot_id: id },
          body: { config: body },
          headers: { 'if-match': String(version) },
        })
        setVersion(r.version)
        setResult(r)
      }
    } catch (e) {
      if (e instanceof ApiError) {
        setErrors(e.fieldErrors())
        setMessage(
          e.code === 'version_conflict' ? `${e.message} — reload to edit the current version` : e.message,
        )
      } else setMessage(String(e))
    } finally {
      setBusy(false)
    }
  }

  return (
    <main>
      <header className="page-head">
        <h2>{id ? `Edit ${id}` : 'New bot'}</h2>
        {version !== null && <span className="muted">based on v{version}</span>}
      </header>
      {!id && (
        <div className="row">
          <label>
            Type
            <select value={botType} onChange={(e) => chooseType(e.target.value)} aria-label="bot type">
              {BOT_TYPES.map((t) => (
                <option key={t}>{t}</option>
              ))}
            </select>
          </label>
          <PlacementFields value={placement} onChange={setPlacement} nodes={nodes} botType={botType} />
        </div>
      )}
      <p className="muted">
        Fields marked <span className="badge hot">hot</span> apply to a running bot at once; <span className="badge restart">restart</span>{' '}
        fields restart it.
      </p>
      {(message || loadError) && (
        <div className="error" role="alert" data-testid="save-error">
          {message || loadError}
        </div>
      )}
      {result && (
        <div className="notice" data-testid="save-result">
          Saved v{result.version}.{' '}
          {result.applied_hot.length > 0 && <>Applied without a restart: {result.applied_hot.join(', ')}. </>}
          {result.restart_required.length > 0 && <>Restarting for: {result.restart_required.join(', ')}.</>}
          {result.applied_hot.length === 0 && result.restart_required.length === 0 && <>No change.</>}
        </div>
      )}
      {notice && (
        <div className="notice" data-testid="editor-notice">
          {notice}
        </div>
      )}
      <div className="editor-cols">
        <DropZone
          onFiles={(f) => void dropFiles(f)}
          onConfig={(c) => void useStored(c)}
          label="Drop a configuration file or a stored configuration to load it"
          testId="editor-drop"
        >
          {/* The form waits for a configuration of the type chosen, so nothing typed is overwritten. */}
          {schema.data && isRecord(config) && config.bot_type === botType ? (
            <SchemaForm schema={schema.data} value={config} onChange={setConfig} errors={errors} lockId={!!id} />
          ) : (
            <p className="muted">Loading…</p>
          )}
        </DropZone>
        <aside className="card" data-testid="templates">
          <h4>Stored configurations</h4>
          <p className="muted">Drag one onto the form (or press Use) to start from it (a new bot takes it as &lt;id&gt;-copy); drop a JSON file there, or load one here.</p>
          <ul className="templates">
            {(stored.data?.configs ?? [])
              .filter((c) => !id || c.bot_type === botType)
              .slice(0, 100)
              .map((c) => (
                <li
                  key={c.config_id}
                  draggable
                  data-config={c.config_id}
                  onDragStart={(e) => {
                    e.dataTransfer.setData(CONFIG_DRAG_TYPE, c.config_id)
                    e.dataTransfer.effectAllowed = 'copy'
                  }}
                >
                  <span className="grip" aria-hidden="true">
                    ⠿
                  </span>
                  {c.config_id} <span className="muted">{c.bot_type}</span>
                  <button type="button" aria-label={`use ${c.config_id}`} onClick={() => void useStored(c.config_id)}>
                    Use
                  </button>
                </li>
              ))}
          </ul>
          <label>
            Load a file{' '}
            <input
              type="file"
              accept="application/json,.json"
              aria-label="load a configuration file"
              onChange={(e) => {
                void dropFiles(Array.from(e.target.files ?? []))
                e.target.value = ''
              }}
            />
          </label>
          <div className="row">
            <input aria-label="template name" placeholder="template name" value={templateName} onChange={(e) => setTemplateName(e.target.value)} />
            <button type="button" disabled={!templateName.trim() || !config} onClick={() => void saveTemplate()}>
              Save as template
            </button>
          </div>
        </aside>
      </div>
      <div className="row">
        <button className="primary" disabled={busy || !config} onClick={save}>
          {id ? 'Save' : 'Create bot'}
        </button>
        <button onClick={() => (id ? go('bots', id) : go(''))}>Back</button>
      </div>
    </main>
  )
}
