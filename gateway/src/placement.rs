//! Placement and the core ledger, pure: nodes, what their bots hold and a bot's needs in, a
//! node and cores (or why none can take it) out. The gateway calls [`place`] when a bot is
//! created with `node_id: "auto"`, when a pending bot may fit, and when a node running bots
//! that fail over is lost; [`Ledger`] refuses a reservation of a core another bot holds.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::store::{BotRow, Environment, NodeRow};

/// Most cores a bot may ask the gateway for.
pub const CORES_MAX: u32 = 64;

/// Most instances of one bot (`replicas`): the bot and replicas `-r1` to `-r15`.
pub const REPLICAS_MAX: u32 = 16;

/// How a bot asked to be placed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    /// The gateway chooses its node (`node_id: "auto"`), and chooses again when it is lost.
    #[serde(default)]
    pub auto: bool,
    /// Labels its node must carry (`{"region": "ny"}`).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Free cores it needs on its node, the gateway choosing which (its configuration's
    /// `resources.cores` then names none): 0 to [`CORES_MAX`].
    #[serde(default)]
    pub cores: u32,
    /// Placed again on another node when its node is lost (paper bots by default; a live bot
    /// only when set). The bot stops once its node's fencing lease lapses, before that.
    #[serde(default)]
    pub failover: bool,
    /// Whether `failover` was asked for (`false`: the default of its trading mode, which a
    /// configuration that turns live trading on or off changes).
    #[serde(default)]
    pub failover_set: bool,
    /// Instances it runs, each on another node: 1 (the bot alone) to [`REPLICAS_MAX`]; more
    /// than one only for types that observe and never trade. Its further instances are bots
    /// of their own, `<id>-r1` and on ([`replica_id`]), placed by the gateway.
    #[serde(default = "one")]
    pub replicas: u32,
}

fn one() -> u32 {
    1
}

impl Default for Placement {
    fn default() -> Self {
        Self {
            auto: false,
            labels: BTreeMap::new(),
            cores: 0,
            failover: false,
            failover_set: false,
            replicas: 1,
        }
    }
}

/// The id of replica `k` (1 and on) of bot `bot_id`: `arb-r2`.
pub fn replica_id(bot_id: &str, k: u32) -> String {
    format!("{bot_id}-r{k}")
}

/// The nodes of the other instances of `bot`'s bot (one waiting for the node it names counts
/// there): a bot and its replicas never share one.
pub fn siblings_nodes(bots: &[BotRow], bot: &BotRow) -> Vec<String> {
    let group = bot.replica_of.as_deref().unwrap_or(&bot.bot_id);
    bots.iter()
        .filter(|o| o.bot_id != bot.bot_id && !o.node_id.is_empty())
        .filter(|o| o.bot_id == group || o.replica_of.as_deref() == Some(group))
        .map(|o| o.node_id.clone())
        .collect()
}

/// Whether `id` has a replica's shape, `<bot>-r<k>` (k of one or two digits): such ids are
/// kept for replicas, and no bot or configuration may be created under one.
pub fn replica_shaped(id: &str) -> bool {
    id.rsplit_once("-r").is_some_and(|(bot, k)| {
        !bot.is_empty() && (1..=2).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_digit())
    })
}

/// Whether bots of type `bot_type` may run several instances: those that observe (analytics,
/// portfolio, dashboard) and never trade; a trading bot stays single-writer.
pub fn replicable(bot_type: &str) -> bool {
    matches!(
        bot_type,
        "ml_analytics" | "portfolio_manager" | "real_time_dashboard"
    )
}

/// What a bot needs of a node.
#[derive(Debug, Clone)]
pub struct Need<'a> {
    /// The bot.
    pub bot_id: &'a str,
    /// Its environment: the node must serve it.
    pub environment: Environment,
    /// Labels the node must carry.
    pub labels: &'a BTreeMap<String, String>,
    /// Cores its configuration pins (each must exist on the node and be free).
    pub pinned: &'a [u32],
    /// Free cores to choose (when it pins none).
    pub cores: u32,
    /// Nodes it may not go to (the lost one it leaves).
    pub avoid: &'a [String],
    /// Nodes running another instance of the same bot (its replicas go to different nodes).
    pub apart: &'a [String],
}

/// A node as placement sees it.
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    /// The node.
    pub node: &'a NodeRow,
    /// Whether it is alive (a heartbeat within the failover window).
    pub live: bool,
    /// Core → the bot holding it.
    pub held: BTreeMap<u32, String>,
    /// Bots placed on it.
    pub bots: usize,
}

/// Where a bot goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// The node.
    pub node_id: String,
    /// The cores it holds there.
    pub cores: Vec<u32>,
}

/// The cores of a node bots may reserve: its isolated cores when it has any, otherwise every
/// core but 0 (left to the system; all of a one-core node).
pub fn reservable(node: &NodeRow) -> Vec<u32> {
    if !node.isolated_cores.is_empty() {
        return node.isolated_cores.clone();
    }
    let cores = u32::try_from(node.cores.max(1)).unwrap_or(1);
    if cores == 1 {
        vec![0]
    } else {
        (1..cores).collect()
    }
}

/// The cores `need` would hold on `c`, or why `c` cannot take it.
pub fn fit(need: &Need<'_>, c: &Candidate<'_>) -> Result<Vec<u32>, String> {
    let n = c.node;
    if need.avoid.contains(&n.node_id) {
        return Err("the node it leaves".into());
    }
    if need.apart.contains(&n.node_id) {
        return Err("runs another instance of it".into());
    }
    if !c.live {
        return Err("lost (no recent heartbeat)".into());
    }
    if !n.serves(need.environment) {
        return Err(format!(
            "serves {}, not {}",
            n.environments_text(),
            need.environment
        ));
    }
    if let Some((k, v)) = need
        .labels
        .iter()
        .find(|(k, v)| n.labels.get(*k) != Some(*v))
    {
        return Err(format!("lacks label {k}={v}"));
    }
    let held_by_other = |core: &u32| c.held.get(core).is_some_and(|b| b != need.bot_id);
    if !need.pinned.is_empty() {
        if let Some(core) = need.pinned.iter().find(|core| i64::from(**core) >= n.cores) {
            return Err(format!("has no core {core} (cores 0-{})", n.cores - 1));
        }
        if let Some(core) = need.pinned.iter().find(|core| held_by_other(core)) {
            return Err(format!("core {core} is held by bot {}", c.held[core]));
        }
        return Ok(need.pinned.to_vec());
    }
    let free: Vec<u32> = reservable(n)
        .into_iter()
        .filter(|core| !held_by_other(core))
        .collect();
    if (free.len() as u64) < u64::from(need.cores) {
        return Err(format!(
            "{} free core(s), {} needed",
            free.len(),
            need.cores
        ));
    }
    Ok(free[..need.cores as usize].to_vec())
}

/// The node for `need`: of those it fits, for a bot needing cores the one left with the most
/// free cores, then the one with the fewest bots; for one needing none, the one with the fewest
/// bots, then the most free cores; then the first by id. Otherwise why no node serving its
/// environment can take it, node by node (nodes of other environments are not named).
pub fn place(need: &Need<'_>, candidates: &[Candidate<'_>]) -> Result<Choice, String> {
    if candidates.is_empty() {
        return Err("no node has registered".into());
    }
    let mut best: Option<(usize, usize, &str, Vec<u32>)> = None;
    let mut why = Vec::new();
    for c in candidates {
        match fit(need, c) {
            Ok(cores) => {
                let free_after = reservable(c.node)
                    .iter()
                    .filter(|core| !c.held.contains_key(core) && !cores.contains(core))
                    .count();
                let key = (free_after, c.bots, c.node.node_id.as_str());
                let cores_first = need.cores > 0 || !need.pinned.is_empty();
                let better = best.as_ref().is_none_or(|(f, b, id, _)| {
                    let (more_free, fewer_bots) = (key.0.cmp(f).reverse(), key.1.cmp(b));
                    let order = if cores_first {
                        more_free.then(fewer_bots)
                    } else {
                        fewer_bots.then(more_free)
                    };
                    order.then(key.2.cmp(id)) == std::cmp::Ordering::Less
                });
                if better {
                    best = Some((key.0, key.1, key.2, cores));
                }
            }
            Err(e) if c.node.serves(need.environment) => {
                why.push(format!("{}: {e}", c.node.node_id))
            }
            Err(_) => {}
        }
    }
    match best {
        Some((_, _, node_id, cores)) => Ok(Choice {
            node_id: node_id.to_string(),
            cores,
        }),
        None if why.is_empty() => Err(format!("no node serves {}", need.environment)),
        None => {
            let more = why.len().saturating_sub(REASONS_NAMED);
            why.truncate(REASONS_NAMED);
            if more > 0 {
                why.push(format!("{more} more"));
            }
            Err(format!(
                "no node serving {} can take it: {}",
                need.environment,
                why.join("; ")
            ))
        }
    }
}

/// The node named `node_id` fitted to `need` whether or not it is alive right now (a bot named
/// on a node goes there only); `None` when no such node has registered.
pub fn fit_named(
    need: &Need<'_>,
    candidates: &[Candidate<'_>],
    node_id: &str,
) -> Option<Result<Vec<u32>, String>> {
    let c = candidates.iter().find(|c| c.node.node_id == node_id)?;
    Some(fit(
        need,
        &Candidate {
            live: true,
            ..c.clone()
        },
    ))
}

/// The cores a configuration pins (`resources.cores`; what does not read as a core, none).
pub fn pinned_of(config: &serde_json::Value) -> Vec<u32> {
    config["resources"]["cores"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(|c| c.as_u64().and_then(|c| u32::try_from(c).ok()))
                .collect()
        })
        .unwrap_or_default()
}

/// `reason` (a pending reason, a refusal) without the ids of bots holding cores: what a caller
/// scoped to environments reads (a core on a node serving several may be another
/// environment's bot's).
pub fn hide_holders(reason: &str) -> String {
    const HELD: &str = " is held by bot ";
    let mut out = String::with_capacity(reason.len());
    let mut rest = reason;
    while let Some(at) = rest.find(HELD) {
        out.push_str(&rest[..at]);
        out.push_str(" is held by another bot");
        let after = &rest[at + HELD.len()..];
        // The id runs to the next separator of the reason.
        rest = &after[after.find([';', ' ']).unwrap_or(after.len())..];
    }
    out.push_str(rest);
    out
}

/// Nodes named in a reason no node can take a bot, at most (the rest counted).
pub const REASONS_NAMED: usize = 12;

/// Which bot holds each core of each node: the ledger reservations are checked against.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    by_node: BTreeMap<String, BTreeMap<u32, String>>,
}

/// A reservation refused: a core another bot holds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("core {core} on node {node_id} is held by bot {holder}")]
pub struct Overlap {
    /// The node.
    pub node_id: String,
    /// The core.
    pub core: u32,
    /// The bot holding it.
    pub holder: String,
}

impl Ledger {
    /// The ledger of the placed bots in `bots` (a pending bot holds nothing).
    pub fn of(bots: &[BotRow]) -> Self {
        let mut ledger = Self::default();
        for b in bots.iter().filter(|b| b.pending.is_none()) {
            // Stored rows never overlap (every write went through `reserve`); should one, the
            // first keeps the core.
            let _ = ledger.reserve(&b.node_id, &b.bot_id, &b.cores);
        }
        ledger
    }

    /// Core → holder on `node_id`.
    pub fn held(&self, node_id: &str) -> BTreeMap<u32, String> {
        self.by_node.get(node_id).cloned().unwrap_or_default()
    }

    /// Reserves `cores` on `node_id` for `bot_id` (what it held before there is let go first);
    /// refused whole, naming the first core another bot holds.
    pub fn reserve(&mut self, node_id: &str, bot_id: &str, cores: &[u32]) -> Result<(), Overlap> {
        let node = self.by_node.entry(node_id.to_string()).or_default();
        if let Some((core, holder)) = cores.iter().find_map(|c| {
            node.get(c)
                .filter(|h| *h != bot_id)
                .map(|h| (*c, h.clone()))
        }) {
            return Err(Overlap {
                node_id: node_id.to_string(),
                core,
                holder,
            });
        }
        node.retain(|_, h| h != bot_id);
        for c in cores {
            node.insert(*c, bot_id.to_string());
        }
        Ok(())
    }

    /// Lets go of every core `bot_id` holds.
    pub fn release(&mut self, bot_id: &str) {
        for node in self.by_node.values_mut() {
            node.retain(|_, h| h != bot_id);
        }
    }
}

/// The candidates for placement: every node, live when its last heartbeat is within
/// `live_ms` of `now_ms`, with what the ledger says its bots hold.
pub fn candidates<'a>(
    nodes: &'a [NodeRow],
    bots: &[BotRow],
    ledger: &Ledger,
    now_ms: i64,
    window_ms: i64,
) -> Vec<Candidate<'a>> {
    nodes
        .iter()
        .map(|n| Candidate {
            node: n,
            // Heard from within its window, and within the gateway's: a node given a long
            // window keeps its bots while silent, but takes no new ones.
            live: now_ms - n.last_heartbeat <= n.failover_window(window_ms, now_ms).min(window_ms),
            held: ledger.held(&n.node_id),
            bots: bots
                .iter()
                .filter(|b| b.node_id == n.node_id && b.pending.is_none())
                .count(),
        })
        .collect()
}

/// Whether `labels` (a request's) are well formed: at most 32, keys and values 1 to 64 of
/// letters, digits, `.`, `_`, `-`.
pub fn check_labels(labels: &BTreeMap<String, String>) -> Result<(), String> {
    sniperforge_protocol::fleet::check_labels(labels)
}

/// Bots whose nodes are lost: placed, failing over, meant to run, on a node whose agent fences
/// its bots and that has been silent for longer than its failover window (its own, else
/// `window_ms`) — and for longer than that since the gateway started at `started_ms`, before
/// which it had no chance to hear from the node.
pub fn lost_bots<'a>(
    bots: &'a [BotRow],
    nodes: &[NodeRow],
    now_ms: i64,
    window_ms: i64,
    started_ms: i64,
) -> Vec<&'a BotRow> {
    let lost: HashSet<&str> = nodes
        .iter()
        .filter(|n| {
            let window = n.failover_window(window_ms, now_ms);
            now_ms - n.last_heartbeat > window && now_ms - started_ms > window
        })
        .map(|n| n.node_id.as_str())
        .collect();
    // Bots meant to run; a node whose agent does not fence its bots keeps them (they could
    // still run there).
    let fencing: HashSet<&str> = nodes
        .iter()
        .filter(|n| n.fences)
        .map(|n| n.node_id.as_str())
        .collect();
    bots.iter()
        .filter(|b| {
            b.pending.is_none()
                && b.placement.failover
                && b.desired_state.has_process()
                && lost.contains(b.node_id.as_str())
                && fencing.contains(b.node_id.as_str())
        })
        .collect()
}

#[cfg(test)]
mod tests;
