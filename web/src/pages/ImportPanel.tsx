import { useRef, useState } from 'react'
import { ApiError, call } from '../api'
import { DropZone } from '../components/DropZone'
import { checkConfig, handToEditor, readConfigFiles, type Checked, type ImportedFile } from '../configImport'
import { go } from '../router'

type Row = ImportedFile & { checked: Checked | null; done: string }

/**
 * Configuration files dropped on the fleet page (or chosen with the button): each is checked by
 * the gateway and shown with its errors at their fields before anything is saved; a valid one
 * can be created as a bot (stopped, placed by the gateway) or stored as a template, any one
 * opened in the editor.
 */
export function ImportPanel({ canWrite, children }: { canWrite: boolean; children: React.ReactNode }) {
  const [rows, setRows] = useState<Row[]>([])
  const chooser = useRef<HTMLInputElement>(null)
  const take = async (files: File[]) => {
    const read = await readConfigFiles(files)
    const checked: Row[] = await Promise.all(
      read.map(async (f) => ({ ...f, checked: f.config ? await checkConfig(f.config) : null, done: '' })),
    )
    setRows(checked)
  }
  const act = async (i: number, what: 'bot' | 'template') => {
    const row = rows[i]
    if (!row.config) return
    try {
      if (what === 'bot') {
        const r = await call('POST /api/v1/bots', { body: { config: row.config as never, node_id: 'auto' } })
        setRows((rs) => rs.map((x, j) => (j === i ? { ...x, done: `bot ${r.bot?.bot_id ?? ''} created (stopped)` } : x)))
      } else {
        const r = await call('POST /api/v1/configs', { body: { config: row.config as never } })
        setRows((rs) => rs.map((x, j) => (j === i ? { ...x, done: `template ${r.config_id} stored (v${r.version})` } : x)))
      }
    } catch (e) {
      const checked: Checked = {
        valid: false,
        errors: e instanceof ApiError ? e.fieldErrors() : [],
        message: e instanceof Error ? e.message : String(e),
      }
      setRows((rs) => rs.map((x, j) => (j === i ? { ...x, checked } : x)))
    }
  }
  return (
    <DropZone onFiles={canWrite ? (f) => void take(f) : undefined} label="Drop configuration files to import them" testId="fleet-drop">
      {canWrite && (
        <div className="row">
          <span className="muted">Drop configuration JSON files anywhere on this page to import them, or</span>
          <button type="button" onClick={() => chooser.current?.click()}>
            Choose files…
          </button>
          <input
            ref={chooser}
            type="file"
            accept="application/json,.json"
            multiple
            hidden
            data-testid="import-files"
            onChange={(e) => {
              void take(Array.from(e.target.files ?? []))
              e.target.value = ''
            }}
          />
        </div>
      )}
      {rows.length > 0 && (
        <section className="card" data-testid="import">
          <div className="row">
            <h4>Import</h4>
            <span className="grow" />
            <button type="button" onClick={() => setRows([])}>
              Close
            </button>
          </div>
          {rows.map((r, i) => (
            <div key={`${r.name}-${i}`} className="import-file" data-file={r.name}>
              <b>{r.name}</b>{' '}
              {r.config && (
                <span className="muted">
                  {String(r.config.bot_id ?? '?')} · {String(r.config.bot_type ?? '?')} · {String(r.config.environment ?? '?')}
                </span>
              )}{' '}
              {r.problem && <span className="error">{r.problem}</span>}
              {r.checked?.valid && !r.done && <span className="pill ok">valid</span>}
              {r.done && <span className="pill ok">{r.done}</span>}
              {r.checked && !r.checked.valid && (
                <ul className="errors" data-testid="import-errors">
                  {r.checked.errors.length === 0 && <li>{r.checked.message}</li>}
                  {r.checked.errors.map((e) => (
                    <li key={e.path + e.message} data-path={e.path}>
                      <code>{e.path}</code>: {e.message}
                    </li>
                  ))}
                </ul>
              )}
              {r.config && !r.done && (
                <div className="row">
                  <button type="button" className="primary" disabled={!r.checked?.valid} onClick={() => void act(i, 'bot')}>
                    Create bot
                  </button>
                  <button type="button" disabled={!r.checked?.valid} onClick={() => void act(i, 'template')}>
                    Save as template
                  </button>
                  <button
                    type="button"
                    onClick={() => {
                      if (r.config) handToEditor(r.config)
                      go('bots', 'new')
                    }}
                  >
                    Open in editor
                  </button>
                </div>
              )}
            </div>
          ))}
        </section>
      )}
      {children}
    </DropZone>
  )
}
