//! What a bot says of its health: ready (`/health`: threads alive, market loaded, feed fresh)
//! and alive (`/live`: what a supervisor restarts it for); the process's CPU and memory as the
//! kernel counts them.

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

/// This process's CPU use since it started, percent of one core (user + system time over its
/// age, both from the kernel: `/proc/self/stat` and `/proc/uptime`, in `USER_HZ` = 100 ticks).
pub(super) fn cpu_since_start() -> f64 {
    let read = || -> Option<f64> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let busy: f64 =
            fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
        let started: f64 = fields.get(19)?.parse().ok()?;
        let uptime: f64 = std::fs::read_to_string("/proc/uptime")
            .ok()?
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        let age = uptime - started / 100.0;
        (age > 0.0).then(|| ((busy / 100.0) / age * 1000.0).round() / 10.0)
    };
    read().unwrap_or(0.0)
}

pub(super) fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}
