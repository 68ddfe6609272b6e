import { useState } from 'react'
import { ApiError, call, setToken } from '../api'
import type { NameRole } from '../generated/api'

/** Password login (a 12 h session) or an API token pasted in. */
export function Login({ onLogin }: { onLogin: (me: NameRole) => void }) {
  const [mode, setMode] = useState<'password' | 'token'>('password')
  const [name, setName] = useState('')
  const [password, setPassword] = useState('')
  const [token, setTok] = useState('')
  const [error, setError] = useState('')
  const [busy, setBusy] = useState(false)
  const submit = async (e: React.FormEvent) => {
    e.preventDefault()
    setBusy(true)
    setError('')
    try {
      if (mode === 'password') {
        setToken(null)
        const r = await call('POST /api/v1/auth/login', { body: { name, password } })
        setToken(r.token)
      } else setToken(token.trim())
      const me = await call('GET /api/v1/auth/me')
      onLogin(me)
    } catch (err) {
      setToken(null)
      setError(err instanceof ApiError ? err.message : String(err))
    } finally {
      setBusy(false)
    }
  }
  return (
    <main className="login">
      <h1>SniperForge</h1>
      <form onSubmit={submit} className="card">
        <div className="tabs">
          <button type="button" className={mode === 'password' ? 'active' : ''} onClick={() => setMode('password')}>
            Password
          </button>
          <button type="button" className={mode === 'token' ? 'active' : ''} onClick={() => setMode('token')}>
            API token
          </button>
        </div>
        {mode === 'password' ? (
          <>
            <label>
              User <input name="user" autoComplete="username" value={name} onChange={(e) => setName(e.target.value)} />
            </label>
            <label>
              Password
              <input
                name="password"
                type="password"
                autoComplete="current-password"
                value={password}
                onChange={(e) => setPassword(e.target.value)}
              />
            </label>
          </>
        ) : (
          <label>
            Token (the admin token is in data/admin.token)
            <input name="token" type="password" value={token} onChange={(e) => setTok(e.target.value)} />
          </label>
        )}
        {error && (
          <div className="error" role="alert">
            {error}
          </div>
        )}
        <button className="primary" type="submit" disabled={busy}>
          Sign in
        </button>
      </form>
    </main>
  )
}
