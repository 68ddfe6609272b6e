//! Placing bots on nodes through [`crate::placement`]: where a new bot goes (or why it waits),
//! pending bots placed once a node can take them, and the bots of lost nodes failed over.

use super::*;
use crate::placement::{self, Ledger, Need, Placement};
use crate::store::{BotRow, Environment};

/// Where a bot goes: its node (empty while none), the cores it holds there, and why it waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Placed {
    pub(super) node_id: String,
    pub(super) cores: Vec<u32>,
    pub(super) pending: Option<String>,
}

impl AppState {
    /// The same state losing a node after `ms` of silence (its agents' fencing lease is half).
    pub fn with_failover_after(mut self, ms: i64) -> Self {
        self.failover_after_ms = ms.max(4_000);
        self
    }

    /// The fencing lease agents hold for bots that fail over, ms: half the failover window,
    /// so a bot of a lost node has stopped well before it is placed anywhere else.
    pub(crate) fn fence_ms(&self) -> u64 {
        u64::try_from(self.failover_after_ms / 2).unwrap_or(0)
    }

    /// Where a new bot (or one whose cores change) goes, with the placement lock held:
    /// `node_id` `"auto"` asks placement (a bot no node can take waits, with the reason); a
    /// named node must serve its environment and have its cores free (409 otherwise, naming
    /// what holds them); a node that has not registered yet leaves a bot needing cores
    /// waiting for it.
    pub(super) async fn place_new(
        &self,
        bot_id: &str,
        environment: Environment,
        node_id: &str,
        placement: &Placement,
        pinned: &[u32],
    ) -> Result<Placed, ApiError> {
        let bots: Vec<BotRow> = self
            .store
            .bots()
            .await?
            .into_iter()
            .filter(|b| b.bot_id != bot_id)
            .collect();
        let nodes = self.store.nodes().await?;
        let ledger = Ledger::of(&bots);
        let now = self.store.now_ms();
        let candidates = placement::candidates(&nodes, &bots, &ledger, now, self.failover_after_ms);
        let need = Need {
            bot_id,
            environment,
            labels: &placement.labels,
            pinned,
            cores: placement.cores,
            avoid: &[],
            apart: &[],
        };
        if placement.auto {
            return Ok(match placement::place(&need, &candidates) {
                Ok(c) => Placed {
                    node_id: c.node_id,
                    cores: c.cores,
                    pending: None,
                },
                Err(why) => Placed {
                    node_id: String::new(),
                    cores: Vec::new(),
                    pending: Some(why),
                },
            });
        }
        let Some(node) = candidates.iter().find(|c| c.node.node_id == node_id) else {
            // Not registered yet: a bot that needs cores waits for it (to choose or check them).
            let needs_cores = !pinned.is_empty() || placement.cores > 0;
            return Ok(Placed {
                node_id: node_id.to_string(),
                cores: Vec::new(),
                pending: needs_cores.then(|| format!("node {node_id} has not registered")),
            });
        };
        if !node.node.serves(environment) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "environment_not_served",
                format!(
                    "node {node_id} serves {}; bot {bot_id} is {environment}",
                    node.node.environments_text()
                ),
            )
            .details(json!([{"path": "node_id"}])));
        }
        // A named node takes the bot whether or not it is alive right now.
        match placement::fit_named(&need, &candidates, node_id).unwrap_or_else(|| Ok(Vec::new())) {
            Ok(cores) => Ok(Placed {
                node_id: node_id.to_string(),
                cores,
                pending: None,
            }),
            Err(why) => Err(ApiError::new(
                StatusCode::CONFLICT,
                if pinned.is_empty() {
                    "cores_unavailable"
                } else {
                    "cores_reserved"
                },
                format!("bot {bot_id} on node {node_id}: node {node_id} {why}"),
            )
            .details(
                json!([{"path": if pinned.is_empty() { "cores" } else { "resources.cores" }}]),
            )),
        }
    }

    /// Places the bots that wait, and fails over the bots of lost nodes; wakes the agents when
    /// anything moved. The gateway calls it every second.
    pub async fn place_and_fail_over(&self) -> Result<(), StoreError> {
        let _guard = self.placement_lock.lock().await;
        let mut bots = self.store.bots().await?;
        let nodes = self.store.nodes().await?;
        let now = self.store.now_ms();
        let mut ledger = Ledger::of(&bots);
        let mut moved = false;
        // A gateway that just started has heard from no node yet: none is lost before a whole
        // window of its own has passed.
        let lost: Vec<String> = placement::lost_bots(
            &bots,
            &nodes,
            now,
            self.failover_after_ms,
            self.started_at_ms,
        )
        .iter()
        .map(|b| b.bot_id.clone())
        .collect();
        // Read once a pass: a waiting bot's configuration cores by its configuration's id, and
        // the candidates until something moves (many bots waiting cost one build, not one each).
        let mut pinned_of: std::collections::HashMap<String, Vec<u32>> =
            std::collections::HashMap::new();
        let mut cached: Option<Vec<placement::Candidate<'_>>> = None;
        for i in 0..bots.len() {
            let b = &bots[i];
            // A placed bot whose node no longer serves its environment (it registered again
            // with others) waits with the reason, or goes elsewhere when it may.
            let unserved = b.pending.is_none()
                && nodes
                    .iter()
                    .any(|n| n.node_id == b.node_id && !n.serves(b.environment));
            if unserved && !(b.placement.auto || b.placement.failover) {
                let served = nodes
                    .iter()
                    .find(|n| n.node_id == b.node_id)
                    .map_or_else(String::new, |n| n.environments_text());
                let why = format!("node {} serves {served}, not {}", b.node_id, b.environment);
                ledger.release(&b.bot_id);
                self.store
                    .set_placement(&b.bot_id, &b.node_id, &[], Some(&why))
                    .await?;
                bots[i].pending = Some(why);
                bots[i].cores.clear();
                moved = true;
                cached = None;
                continue;
            }
            let leaving = lost.contains(&b.bot_id) || unserved;
            if !leaving && b.pending.is_none() {
                continue;
            }
            if !b.cores.is_empty() {
                ledger.release(&b.bot_id);
                cached = None;
            }
            let pinned: Vec<u32> = if b.placement.cores > 0 {
                Vec::new()
            } else {
                // Its configuration's cores (a pending bot holds none yet; a replica runs
                // its bot's configuration).
                let config_id = b.replica_of.as_deref().unwrap_or(&b.bot_id);
                match pinned_of.get(config_id) {
                    Some(p) => p.clone(),
                    None => {
                        let p = self.pinned_cores(config_id).await?;
                        pinned_of.insert(config_id.to_string(), p.clone());
                        p
                    }
                }
            };
            let apart = placement::siblings_nodes(&bots, b);
            let avoid = if leaving {
                vec![b.node_id.clone()]
            } else {
                Vec::new()
            };
            let need = Need {
                bot_id: &b.bot_id,
                environment: b.environment,
                labels: &b.placement.labels,
                pinned: &pinned,
                cores: b.placement.cores,
                avoid: &avoid,
                apart: &apart,
            };
            let candidates = cached.get_or_insert_with(|| {
                placement::candidates(&nodes, &bots, &ledger, now, self.failover_after_ms)
            });
            // A bot waiting for the node it names goes there only; one failing over or asking
            // for placement, anywhere that fits.
            let anywhere = leaving || b.placement.auto || b.node_id.is_empty();
            let choice = if anywhere {
                placement::place(&need, candidates)
            } else {
                match placement::fit_named(&need, candidates, &b.node_id) {
                    Some(fitted) => fitted
                        .map(|cores| placement::Choice {
                            node_id: b.node_id.clone(),
                            cores,
                        })
                        .map_err(|why| format!("node {} {why}", b.node_id)),
                    None => Err(format!("node {} has not registered", b.node_id)),
                }
            };
            let placed = match choice {
                Ok(c) => {
                    let _ = ledger.reserve(&c.node_id, &b.bot_id, &c.cores);
                    cached = None;
                    Placed {
                        node_id: c.node_id,
                        cores: c.cores,
                        pending: None,
                    }
                }
                Err(why) if leaving => Placed {
                    node_id: String::new(),
                    cores: Vec::new(),
                    pending: Some(if unserved {
                        format!(
                            "node {} no longer serves {}; {why}",
                            b.node_id, b.environment
                        )
                    } else {
                        format!("node {} is lost; {why}", b.node_id)
                    }),
                },
                Err(why) => Placed {
                    node_id: b.node_id.clone(),
                    cores: Vec::new(),
                    pending: Some(why),
                },
            };
            if placed.node_id == b.node_id && placed.cores == b.cores && placed.pending == b.pending
            {
                continue;
            }
            self.store
                .set_placement(
                    &b.bot_id,
                    &placed.node_id,
                    &placed.cores,
                    placed.pending.as_deref(),
                )
                .await?;
            let action = if leaving { "bot.failover" } else { "bot.place" };
            self.store
                .audit(
                    "gateway",
                    action,
                    &b.bot_id,
                    &json!({"from": b.node_id, "to": placed.node_id, "cores": placed.cores,
                        "pending": placed.pending}),
                )
                .await?;
            if leaving {
                tracing::warn!(bot = %b.bot_id, from = %b.node_id, to = %placed.node_id, "bot failed over");
            }
            let b = &mut bots[i];
            b.node_id = placed.node_id;
            b.cores = placed.cores;
            b.pending = placed.pending;
            moved = true;
            cached = None;
        }
        if moved {
            self.bump_index().await?;
        }
        Ok(())
    }

    /// The cores a bot's latest configuration pins (`resources.cores`).
    pub(super) async fn pinned_cores(&self, bot_id: &str) -> Result<Vec<u32>, StoreError> {
        Ok(self
            .store
            .config(bot_id, None)
            .await?
            .map(|c| placement::pinned_of(&c.body))
            .unwrap_or_default())
    }
}

/// Whether a configuration's parameters trade live (`execution.simulation_mode: false`): such
/// a bot fails over only when asked.
pub(super) fn trades_live(parameters: &Value) -> bool {
    parameters["execution"]["simulation_mode"] == Value::Bool(false)
}

impl ApiError {
    /// The same error without the ids of bots holding cores, for a caller scoped to
    /// environments ([`placement::hide_holders`]).
    pub(super) fn hiding_holders(mut self, scoped: bool) -> Self {
        if scoped {
            self.message = placement::hide_holders(&self.message);
        }
        self
    }
}
