import { useEffect, useState } from 'react'
import { call, can, getToken, setToken } from './api'
import { ConfirmButton } from './components/Confirm'
import type { NameRole } from './generated/api'
import { ENVIRONMENTS, setEnv, useEnv } from './env'
import { go, useRoute } from './router'
import { Alerts } from './pages/Alerts'
import { Backtests } from './pages/Backtests'
import { BotDetail } from './pages/BotDetail'
import { BotEditor } from './pages/BotEditor'
import { Fleet } from './pages/Fleet'
import { Login } from './pages/Login'
import { Market } from './pages/Market'
import { Rollouts } from './pages/Rollouts'

export function App() {
  const route = useRoute()
  const [me, setMe] = useState<NameRole | null>(null)
  const [checking, setChecking] = useState(!!getToken())
  const [banner, setBanner] = useState('')
  const env = useEnv()
  useEffect(() => {
    if (getToken())
      call('GET /api/v1/auth/me')
        .then(setMe)
        .catch(() => setToken(null))
        .finally(() => setChecking(false))
    const out = () => {
      setToken(null)
      setMe(null)
    }
    window.addEventListener('sniperforge:logout', out)
    return () => window.removeEventListener('sniperforge:logout', out)
  }, [])
  if (checking) return null
  if (!me) return <Login onLogin={setMe} />
  // The environments this token reaches: the switcher offers those (a remembered one it does not
  // reach reads as all).
  const reachable = me.environments ?? ENVIRONMENTS
  const shown = env && reachable.includes(env) ? env : null
  const [page, id, sub] = route
  let body
  if (page === 'bots' && id === 'new') body = <BotEditor />
  else if (page === 'bots' && id && sub === 'edit') body = <BotEditor key={id} id={id} />
  else if (page === 'bots' && id) body = <BotDetail key={id} id={id} role={me.role} />
  else if (page === 'market') body = <Market />
  else if (page === 'alerts') body = <Alerts role={me.role} />
  else if (page === 'rollouts') body = <Rollouts role={me.role} />
  else if (page === 'backtests') body = <Backtests key={id ?? ''} role={me.role} id={id} />
  else body = <Fleet role={me.role} />
  return (
    <>
      <nav className="top">
        <b className="brand">SniperForge</b>
        <a href="#/" className={!page || page === 'bots' ? 'active' : ''}>
          Fleet
        </a>
        <a href="#/market" className={page === 'market' ? 'active' : ''}>
          Market
        </a>
        <a href="#/alerts" className={page === 'alerts' ? 'active' : ''}>
          Alerts
        </a>
        <a href="#/rollouts" className={page === 'rollouts' ? 'active' : ''}>
          Rollouts
        </a>
        <a href="#/backtests" className={page === 'backtests' ? 'active' : ''}>
          Backtests
        </a>
        <span className="grow" />
        <label className="env-switch">
          Environment{' '}
          <select
            data-testid="env-switcher"
            value={shown ?? ''}
            onChange={(e) => {
              const v = e.target.value
              setEnv(v === 'dev' || v === 'test' || v === 'prod' ? v : null)
            }}
          >
            <option value="">{me.environments ? `mine (${me.environments.join(', ')})` : 'all'}</option>
            {reachable.map((e) => (
              <option key={e} value={e}>
                {e}
              </option>
            ))}
          </select>
        </label>
        {can(me.role, 'admin') && (
          <ConfirmButton
            label="Emergency stop"
            danger
            question="Stop every bot in the fleet now? Each bot's desired state becomes stopped; agents stop them within a second."
            onConfirm={async () => {
              const r = await call('POST /api/v1/system/emergency-stop')
              setBanner(`Emergency stop: ${r.bots_stopped} bot(s) set to stopped`)
            }}
          />
        )}
        <span className="muted" data-testid="whoami">
          {me.name} ({me.role})
        </span>
        <button
          onClick={() => {
            setToken(null)
            setMe(null)
            go('')
          }}
        >
          Sign out
        </button>
      </nav>
      {banner && (
        <div className="notice banner" onClick={() => setBanner('')}>
          {banner}
        </div>
      )}
      {body}
    </>
  )
}
