import { useState, type ReactNode } from 'react'
import { CONFIG_DRAG_TYPE } from '../configImport'

/**
 * Where files (and stored configurations dragged from a list) can be dropped: highlighted while
 * something is dragged over it. `onFiles` gets dropped files, `onConfig` a dragged
 * configuration's id.
 */
export function DropZone({
  onFiles,
  onConfig,
  label,
  testId,
  children,
}: {
  onFiles?: (files: File[]) => void
  onConfig?: (configId: string) => void
  /** What a drop does, shown while dragging. */
  label: string
  testId?: string
  children: ReactNode
}) {
  const [over, setOver] = useState(0)
  const accepts = (dt: DataTransfer | null) =>
    !!dt && ((!!onFiles && dt.types.includes('Files')) || (!!onConfig && dt.types.includes(CONFIG_DRAG_TYPE)))
  return (
    <div
      className={`dropzone${over > 0 ? ' dragging' : ''}`}
      data-testid={testId}
      data-label={label}
      onDragEnter={(e) => {
        if (!accepts(e.dataTransfer)) return
        e.preventDefault()
        setOver((n) => n + 1)
      }}
      onDragOver={(e) => {
        if (!accepts(e.dataTransfer)) return
        e.preventDefault()
        e.dataTransfer.dropEffect = 'copy'
      }}
      onDragLeave={() => setOver((n) => Math.max(0, n - 1))}
      onDrop={(e) => {
        if (!accepts(e.dataTransfer)) return
        e.preventDefault()
        setOver(0)
        const id = onConfig ? e.dataTransfer.getData(CONFIG_DRAG_TYPE) : ''
        if (id && onConfig) onConfig(id)
        else if (onFiles && e.dataTransfer.files.length) onFiles(Array.from(e.dataTransfer.files))
      }}
    >
      {children}
    </div>
  )
}
