// End-to-end test of the web UI in headless Chromium (Debian's, driven by playwright-core)
// against a real gateway, agent and bots. tests/web_ui.rs starts `sniperforge up`, makes the
// users and runs this with:
//   SF_URL, SF_OPERATOR, SF_VIEWER (user:password), SF_ADMIN_TOKEN, SF_ARTIFACTS (screenshots),
//   SF_CORES (cores the new bot may use on this machine), CHROMIUM (default /usr/bin/chromium).
// Playwright gives the browser a fresh profile of its own. Exits non-zero with the failed step on any failure (a screenshot of the page is saved too).

import { chromium } from 'playwright-core'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'

const URL = process.env.SF_URL ?? 'http://127.0.0.1:8080'
const [opUser, opPass] = (process.env.SF_OPERATOR ?? '').split(':')
const [viewUser, viewPass] = (process.env.SF_VIEWER ?? '').split(':')
const ADMIN_TOKEN = process.env.SF_ADMIN_TOKEN ?? ''
const OUT = process.env.SF_ARTIFACTS ?? 'e2e-artifacts'
const CORES = process.env.SF_CORES ?? '0'
const BOT = 'ui-triangular'
const T = 30_000

mkdirSync(OUT, { recursive: true })
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
})

let page
let step = 'start'
const log = (s) => {
  step = s
  console.log(`[e2e] ${s}`)
}
const shot = (name) => page.screenshot({ path: join(OUT, `${name}.png`), fullPage: true })

async function newPage() {
  const ctx = await browser.newContext({ viewport: { width: 1360, height: 900 } })
  const p = await ctx.newPage()
  p.setDefaultTimeout(T)
  p.on('pageerror', (e) => console.error(`[page error] ${e.message}`))
  return p
}

async function login(user, pass) {
  await page.goto(URL)
  await page.getByLabel('User').fill(user)
  await page.getByLabel('Password').fill(pass)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByTestId('whoami').waitFor()
}

async function confirm(action) {
  await page.getByRole('button', { name: action, exact: true }).click()
  await page.getByRole('button', { name: `Confirm ${action.toLowerCase()}` }).click()
}

const field = (path) => page.locator(`[data-path="${path}"]`)

/**
 * Clicks `target` until `done` shows, at most 3 times: on a live page a panel above may grow
 * (a chart's data coming in) between Playwright's last look at the target and its click,
 * which then lands beside it.
 */
async function clickUntil(target, done) {
  for (let attempt = 1; ; attempt++) {
    await target.click()
    try {
      await done.waitFor({ timeout: 5_000 })
      return
    } catch (e) {
      if (attempt >= 3) throw e
      log(`  (the click did not open it: again, ${attempt + 1} of 3)`)
    }
  }
}

try {
  page = await newPage()
  log('login page')
  await page.goto(URL)
  await page.getByRole('button', { name: 'Sign in' }).waitFor()
  await shot('01-login')
  log('a wrong password is refused')
  await page.getByLabel('User').fill(opUser)
  await page.getByLabel('Password').fill('not the password')
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByRole('alert').waitFor()

  log('operator logs in and sees the fleet, live')
  await login(opUser, opPass)
  await page.getByTestId('live').filter({ hasText: 'live' }).waitFor()
  await page.locator('[data-testid=bots-table] tr[data-bot]').first().waitFor()
  await page.locator('[data-testid=status]', { hasText: 'running' }).first().waitFor()
  await shot('02-fleet')

  log('create a bot from a template, placed by the gateway: server-side errors show at their fields')
  await page.getByRole('button', { name: 'New bot' }).click()
  await page.getByLabel('bot type').selectOption('triangular_arbitrage')
  // Placed by the gateway: the one node serving dev takes it.
  await page.getByLabel('node').selectOption('auto')
  await field('bot_id').locator('input').fill(BOT)
  await field('resources.cores').locator('input').fill(CORES)
  await field('parameters.trading.min_profit_bps').locator('input').fill('5000')
  await page.getByRole('button', { name: 'Create bot' }).click()
  await field('parameters.trading.min_profit_bps').locator('.error').waitFor()
  const restartBadge = await field('parameters.trading.max_hops').locator('.badge.restart').count()
  const hotBadge = await field('parameters.trading.min_profit_bps').locator('.badge.hot').count()
  if (restartBadge !== 1 || hotBadge !== 1) throw new Error('hot/restart labels missing')
  await shot('03-editor-errors')
  await field('parameters.trading.min_profit_bps').locator('input').fill('30')
  await page.getByRole('button', { name: 'Create bot' }).click()
  await page.waitForURL(`**/#/bots/${BOT}`)
  await page.getByText('triangular_arbitrage on local').waitFor()

  log('start it')
  await confirm('Start')
  await page.getByTestId('bot-status').filter({ hasText: /^running$/ }).waitFor()

  log('its latency chart receives new points')
  const chart = page.getByTestId('latency-chart')
  await page.waitForFunction(() => Number(document.querySelector('[data-testid=latency-chart]')?.getAttribute('data-points')) > 0, null, { timeout: T })
  const first = Number(await chart.getAttribute('data-points'))
  await page.waitForFunction(
    (n) => Number(document.querySelector('[data-testid=latency-chart]')?.getAttribute('data-points')) > n,
    first,
    { timeout: T },
  )
  await shot('04-bot-detail')

  log('change a hot field: applied without a restart')
  const pidBefore = await page.evaluate(async (bot) => {
    const r = await fetch(`/api/v1/bots/${bot}/status`, { headers: { authorization: `Bearer ${sessionStorage.getItem('sniperforge.token')}` } })
    return (await r.json()).reported?.status?.pid
  }, BOT)
  await page.getByRole('button', { name: 'Edit config' }).click()
  await field('parameters.trading.min_profit_bps').locator('input').fill('45')
  await page.getByRole('button', { name: 'Save', exact: true }).click()
  await page.getByTestId('save-result').filter({ hasText: 'Applied without a restart: trading.min_profit_bps' }).waitFor()
  await shot('05-editor-saved')
  await page.getByRole('button', { name: 'Back' }).click()
  await page.getByTestId('applied-version').filter({ hasText: 'running config v2' }).waitFor()
  const diff = page.getByTestId('config-diff')
  await diff.locator('.add', { hasText: '"min_profit_bps": 45' }).waitFor()
  await diff.locator('.del', { hasText: '"min_profit_bps": 30' }).waitFor()
  const pidAfter = await page.evaluate(async (bot) => {
    const r = await fetch(`/api/v1/bots/${bot}/status`, { headers: { authorization: `Bearer ${sessionStorage.getItem('sniperforge.token')}` } })
    return (await r.json()).reported?.status?.pid
  }, BOT)
  if (!pidBefore || pidBefore !== pidAfter) throw new Error(`hot change restarted the bot (pid ${pidBefore} → ${pidAfter})`)
  await page.getByTestId('log').locator('div').first().waitFor()
  await shot('06-bot-config-diff')

  log('stop it')
  await confirm('Stop')
  await page.getByTestId('desired').filter({ hasText: 'desired: stopped' }).waitFor()
  await page.getByTestId('bot-status').filter({ hasText: /^stopped/ }).waitFor()

  log('drag and drop: a configuration file dropped on the fleet page is checked, its error shown at its field before anything is saved')
  await page.goto(URL)
  await page.getByTestId('fleet-drop').waitFor()
  const importText = await page.evaluate(async () => {
    const auth = { headers: { authorization: `Bearer ${sessionStorage.getItem('sniperforge.token')}` } }
    const cfg = await (await fetch('/api/v1/configs/templates/triangular_arbitrage', auth)).json()
    cfg.bot_id = 'dd-import'
    cfg.parameters.trading.min_profit_bps = -5
    return JSON.stringify(cfg)
  })
  const dropped = await page.evaluateHandle((text) => {
    const dt = new DataTransfer()
    dt.items.add(new File([text], 'dd-import.json', { type: 'application/json' }))
    return dt
  }, importText)
  for (const type of ['dragenter', 'dragover', 'drop']) await page.getByTestId('fleet-drop').dispatchEvent(type, { dataTransfer: dropped })
  const importRow = page.locator('[data-file="dd-import.json"]')
  await importRow.locator('[data-path="trading.min_profit_bps"]').waitFor()
  if (!(await importRow.getByRole('button', { name: 'Create bot' }).isDisabled())) throw new Error('an invalid import can be created')
  const stillNone = await page.evaluate(async () => (await fetch('/api/v1/bots/dd-import', { headers: { authorization: `Bearer ${sessionStorage.getItem('sniperforge.token')}` } })).status)
  if (stillNone !== 404) throw new Error(`the invalid import was saved (${stillNone})`)
  await shot('05b-import-errors')

  log('opened in the editor: the error at its field; list fields reorder by dragging and by keyboard; saved as a template')
  await importRow.getByRole('button', { name: 'Open in editor' }).click()
  await page.waitForURL('**/#/bots/new')
  await field('parameters.trading.min_profit_bps').locator('.error').waitFor()
  await field('parameters.trading.min_profit_bps').locator('input').fill('25')
  const mints = field('parameters.trading.base_mints')
  const order = () => mints.locator('[data-item]').evaluateAll((els) => els.map((e) => e.getAttribute('data-item')).join(','))
  if ((await order()) !== 'SOL,USDC') throw new Error(`base mints: ${await order()}`)
  await mints.locator('[data-item="USDC"]').dragTo(mints.locator('[data-item="SOL"]'))
  if ((await order()) !== 'USDC,SOL') throw new Error(`after dragging USDC first: ${await order()}`)
  await mints.locator('[data-item="USDC"]').focus()
  await page.keyboard.press('Alt+ArrowRight')
  if ((await order()) !== 'SOL,USDC') throw new Error(`after Alt+Right: ${await order()}`)
  const venues = field('parameters.execution.dexs')
  await venues.getByRole('button', { name: 'move Raydium earlier' }).click()
  const venueOrder = await venues.locator('[data-item]').evaluateAll((els) => els.map((e) => e.getAttribute('data-item')).join(','))
  if (venueOrder !== 'Jupiter,Raydium,Orca') throw new Error(`venues: ${venueOrder}`)
  await page.getByLabel('template name').fill('dd-template')
  await page.getByRole('button', { name: 'Save as template' }).click()
  await page.getByTestId('editor-notice').filter({ hasText: 'template dd-template stored' }).waitFor()
  await shot('05c-editor-dragged')

  log('a stored template dragged onto a new bot\'s editor loads it')
  await page.goto(`${URL}/#/`)
  await page.goto(`${URL}/#/bots/new`)
  await page.getByTestId('templates').locator('[data-config="dd-template"]').waitFor()
  // A real drag with the mouse: from the template's grip to the top of the form.
  const tpl = page.getByTestId('templates').locator('[data-config="dd-template"]')
  await tpl.scrollIntoViewIfNeeded()
  const from = await tpl.locator('.grip').boundingBox()
  const onto = await page.getByTestId('editor-drop').boundingBox()
  await page.mouse.move(from.x + from.width / 2, from.y + from.height / 2)
  await page.mouse.down()
  await page.mouse.move(onto.x + onto.width / 2, onto.y + 60, { steps: 8 })
  await page.mouse.up()
  await page.getByTestId('editor-notice').filter({ hasText: 'configuration dd-template loaded as dd-template-copy: valid' }).waitFor()
  if ((await field('parameters.trading.min_profit_bps').locator('input').inputValue()) !== '25') throw new Error('the template did not load')
  const savedOrder = await field('parameters.execution.dexs').locator('[data-item]').evaluateAll((els) => els.map((e) => e.getAttribute('data-item')).join(','))
  if (savedOrder !== 'Jupiter,Raydium,Orca') throw new Error(`the template's venues: ${savedOrder}`)

  log('a trading bot\'s trades: the table, a filter, the CSV download and its cumulative PnL')
  await page.goto(`${URL}/#/bots/demo-triangular-arbitrage`)
  const trades = page.getByTestId('trades')
  await trades.locator('tbody tr[data-outcome]').first().waitFor()
  await page.waitForFunction(() => Number(document.querySelector('[data-testid=pnl-svg]')?.getAttribute('data-points')) > 0, null, { timeout: T })
  await page.getByTestId('pnl-totals').filter({ hasText: /over [1-9]\d* trades · win rate/ }).waitFor()
  await page.getByLabel('outcome').selectOption('wins')
  const outcomes = await trades.locator('tbody tr[data-outcome]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-outcome')))
  if (outcomes.some((o) => o !== 'wins')) throw new Error(`the wins filter shows ${outcomes}`)
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('trades-csv').click()])
  const csv = await (await download.createReadStream()).toArray().then((chunks) => Buffer.concat(chunks).toString())
  const csvLines = csv.trimEnd().split('\r\n')
  if (!csvLines[0].startsWith('at,at_ms,bot_id,') || csvLines.length < 2) throw new Error(`CSV: ${csv.slice(0, 300)}`)
  if (!csvLines.slice(1).every((l) => l.includes(',"demo-triangular-arbitrage",'))) throw new Error(`CSV rows of another bot: ${csv.slice(0, 300)}`)
  // pnl_usd is the 4th column from the end (a quoted route's commas come before it).
  if (!csvLines.slice(1).every((l) => Number(l.split(',').at(-4)) > 0)) throw new Error(`CSV rows that are not wins: ${csv.slice(0, 300)}`)
  await shot('06b-trades')

  log('the fleet page charts PnL per environment')
  await page.goto(URL)
  await page.waitForFunction(() => Number(document.querySelector('[data-testid=pnl-svg]')?.getAttribute('data-points')) > 0, null, { timeout: T })
  await page.getByTestId('pnl-totals').filter({ hasText: 'env:dev' }).waitFor()
  await shot('06c-fleet-pnl')

  log('market and alerts pages: the market chart marks the fills')
  await page.getByRole('link', { name: 'Market' }).click()
  await page.getByRole('heading', { name: 'Market', exact: true }).waitFor()
  // The demo fleet's real_time_dashboard publishes spreads per pair across venues.
  await page.locator('[data-testid=spreads] tbody tr').first().waitFor()
  await page.waitForFunction(() => Number(document.querySelector('[data-testid=market-chart]')?.getAttribute('data-marks')) > 0, null, { timeout: T })
  await shot('07-market')
  await page.goto(`${URL}/#/bots/demo-portfolio-manager`)
  await page.getByTestId('portfolio').locator('tbody tr').first().waitFor()
  await shot('07b-portfolio')
  await page.goto(`${URL}/#/bots/demo-ml-analytics`)
  await page.getByTestId('ml').waitFor()
  await shot('07c-ml')
  // An observer bot asks for a second instance: one node here, so the replica waits for a
  // node of its own, with the reason; back to one instance, it is gone.
  await page.getByTestId('replicas-count').fill('2')
  await page.getByRole('button', { name: 'Apply' }).click()
  await page.getByText('2 instance(s): added demo-ml-analytics-r1').waitFor()
  await page.getByTestId('replicas').getByText(/pending: .*runs another instance of it/).waitFor()
  await shot('07e-replicas')
  await page.getByTestId('replicas-count').fill('1')
  await page.getByRole('button', { name: 'Apply' }).click()
  await page.getByText('1 instance(s): removed demo-ml-analytics-r1').waitFor()
  await page.goto(`${URL}/#/bots/demo-cross-chain-arbitrage`)
  await page.getByTestId('cross-chain').locator('tbody tr').first().waitFor()
  await shot('07d-cross-chain')
  await page.getByRole('link', { name: 'Alerts' }).click()
  await page.getByTestId('active-count').waitFor()
  await shot('08-alerts')
  if ((await page.getByRole('button', { name: 'Emergency stop' }).count()) !== 0)
    throw new Error('an operator sees the emergency stop')

  log('a rolling restart from the rollouts page, then a rollout paused at its failure and aborted')
  await page.getByRole('link', { name: 'Rollouts' }).click()
  await page.getByRole('heading', { name: 'Rollouts', exact: true }).waitFor()
  await page.getByLabel('Scope').fill('type:enhanced_arbitrage')
  await page.getByRole('button', { name: 'Start', exact: true }).click()
  await page.getByTestId('rollout-message').filter({ hasText: /started over 1 step/ }).waitFor()
  const done = page.locator('section[data-testid^=rollout-]').first()
  await done.getByTestId('rollout-state').filter({ hasText: 'completed' }).waitFor()
  await done.getByTestId('step-state').filter({ hasText: 'done' }).waitFor()
  await done.getByRole('cell', { name: 'demo-enhanced-arbitrage' }).waitFor()
  await shot('08b-rollout-done')
  await page.getByLabel('Target').fill('9.9.9')
  await page.getByRole('button', { name: 'Start', exact: true }).click()
  const second = page.locator('section[data-testid^=rollout-]').first()
  await second.getByTestId('rollout-state').filter({ hasText: 'paused' }).waitFor()
  await second.getByText(/stopped at the first failed step/).waitFor()
  await second.getByRole('button', { name: 'Resume' }).waitFor()
  await second.getByRole('button', { name: 'Abort', exact: true }).click()
  await page.getByRole('button', { name: 'Confirm abort' }).click()
  await second.getByTestId('rollout-state').filter({ hasText: 'aborted' }).waitFor()
  await shot('08c-rollout-aborted')

  log('a backtest on the node over the recording `up` made: queued, run, its report shown')
  await page.getByRole('link', { name: 'Backtests' }).click()
  await page.getByTestId('backtest-form').waitFor()
  await page.getByLabel('backtest bot').selectOption('demo-triangular-arbitrage')
  // The node lists the recording `up` made: one click names it.
  await page.getByRole('list', { name: 'recordings on local' }).getByRole('button', { name: /^demo\.sfrec · [0-9.]+ MB/ }).click()
  if ((await page.getByLabel('recording', { exact: true }).inputValue()) !== 'demo.sfrec') throw new Error('the listed recording did not fill the form')
  await shot('08d0-backtest-form')
  await page.getByLabel('latency').fill('0')
  await page.getByRole('button', { name: 'Queue' }).click()
  await page.getByTestId('backtest-message').filter({ hasText: /queued bt-[0-9a-f]{16} on local/ }).waitFor()
  const btRow = page.locator('[data-testid=backtests] tbody tr', { hasText: 'demo-triangular-arbitrage' }).first()
  await btRow.getByText('done', { exact: true }).waitFor()
  await btRow.getByText(/over \d+ trades · win rate/).waitFor()
  await btRow.locator('a').first().click()
  await page.getByTestId('backtest-state').filter({ hasText: 'done' }).waitFor()
  await page.getByTestId('backtest-result').filter({ hasText: 'rejected by gate' }).waitFor()
  await page.getByTestId('backtest-svg').waitFor()
  await shot('08d-backtest')

  log('a viewer sees no action')
  page = await newPage()
  await login(viewUser, viewPass)
  await page.locator('[data-testid=bots-table] tr[data-bot]').first().waitFor()
  if ((await page.getByRole('button', { name: 'New bot' }).count()) !== 0) throw new Error('viewer sees New bot')
  log('the environment switcher: each bot shows its environment; prod holds none of these dev bots')
  const envs = await page.getByTestId('env').allTextContents()
  if (!envs.length || envs.some((e) => e !== 'dev')) throw new Error(`bots' environments: ${envs}`)
  await page.getByTestId('env-switcher').selectOption('prod')
  await page.locator('[data-testid=bots-table] tr[data-bot]').first().waitFor({ state: 'detached' })
  await page.getByText('prod p50 (decided)').waitFor()
  await shot('09a-env-prod')
  await page.getByTestId('env-switcher').selectOption('')
  await page.locator('[data-testid=bots-table] tr[data-bot]').first().waitFor()
  await clickUntil(page.getByRole('link', { name: BOT }), page.getByTestId('bot-status'))
  if ((await page.getByTestId('bot-actions').count()) !== 0) throw new Error('viewer sees bot actions')
  if ((await page.getByRole('button', { name: 'Emergency stop' }).count()) !== 0) throw new Error('viewer sees the emergency stop')
  await shot('09-viewer-bot')

  log('an admin (API token) stops the fleet with the emergency stop')
  page = await newPage()
  await page.goto(URL)
  await page.getByRole('button', { name: 'API token' }).click()
  await page.getByLabel(/Token/).fill(ADMIN_TOKEN)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByTestId('whoami').filter({ hasText: '(admin)' }).waitFor()
  await confirm('Emergency stop')
  await page.getByText(/Emergency stop: \d+ bot\(s\) set to stopped/).waitFor()
  await page.locator('[data-testid=bots-table] tr[data-bot] td:nth-child(6)', { hasText: 'running' }).first().waitFor({ state: 'detached' })
  await shot('10-emergency-stop')
  console.log(`[e2e] passed; screenshots in ${OUT}`)
} catch (e) {
  console.error(`[e2e] FAILED at "${step}": ${e?.message ?? e}`)
  if (page) await shot(`failed-${step.replace(/[^a-z0-9]+/gi, '-')}`).catch(() => {})
  process.exitCode = 1
} finally {
  await browser.close()
}
