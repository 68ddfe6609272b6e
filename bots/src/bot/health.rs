//! What a bot says of its health: ready (`/health`: threads alive, market loaded, feed fresh)
//! and alive (`/live`: what a supervisor restarts it for).

use super::*;

impl MarketBot {
    /// [`BotInterface::live`].
    pub(super) fn live_now(&self) -> Result<(), String> {
        let g = self.shared();
        if !matches!(g.status, BotStatus::Running | BotStatus::Paused) {
            // Loading, stopping, or stopped by its own decision: nothing a restart would mend.
            return Ok(());
        }
        if !g.runner_alive {
            return Err("strategy thread is not running".into());
        }
        match g.last_housekeeping {
            Some(t) if t.elapsed() > LIVE_SILENCE => Err(format!(
                "strategy loop silent for {} ms",
                t.elapsed().as_millis()
            )),
            _ => Ok(()),
        }
    }

    /// [`BotInterface::health_check`].
    pub(super) fn health_now(&self) -> Health {
        let g = self.shared();
        let mut reasons = Vec::new();
        if let BotStatus::Error(reason) = &g.status {
            reasons.push(reason.clone());
        }
        if matches!(
            g.status,
            BotStatus::Running | BotStatus::Paused | BotStatus::Error(_)
        ) {
            if !g.runner_alive {
                reasons.push("strategy thread is not running".into());
            } else if !g.housekept {
                reasons.push("warming up: the strategy thread's first housekeeping is due".into());
            }
            match g.last_feed {
                Some(t) if t.elapsed() <= Duration::from_secs(2) => {}
                Some(t) => reasons.push(format!(
                    "feed stale: last update {} ms ago",
                    t.elapsed().as_millis()
                )),
                None => reasons.push("no feed update yet".into()),
            }
            reasons.extend(g.problems.iter().cloned());
            reasons.extend(g.feed_problems.iter().cloned());
        } else {
            reasons.push(format!("status is {}", g.status));
        }
        Health {
            healthy: reasons.is_empty(),
            reasons,
            role: Some(self.lease.role()),
            details: g.runtime.clone(),
        }
    }
}
