import { useState, type ReactNode } from 'react'

/** A button that asks before it acts. */
export function ConfirmButton({
  label,
  question,
  onConfirm,
  danger,
  disabled,
}: {
  label: string
  question: ReactNode
  onConfirm: () => Promise<void> | void
  danger?: boolean
  disabled?: boolean
}) {
  const [open, setOpen] = useState(false)
  const [busy, setBusy] = useState(false)
  return (
    <>
      <button className={danger ? 'danger' : ''} disabled={disabled} onClick={() => setOpen(true)}>
        {label}
      </button>
      {open && (
        <div className="modal-backdrop">
          <div className="modal" role="dialog" aria-modal="true" aria-label={label}>
            <p>{question}</p>
            <div className="row">
              <button onClick={() => setOpen(false)} disabled={busy}>
                Cancel
              </button>
              <button
                className={danger ? 'danger' : 'primary'}
                disabled={busy}
                onClick={async () => {
                  setBusy(true)
                  try {
                    await onConfirm()
                  } finally {
                    setBusy(false)
                    setOpen(false)
                  }
                }}
              >
                Confirm {label.toLowerCase()}
              </button>
            </div>
          </div>
        </div>
      )}
    </>
  )
}
