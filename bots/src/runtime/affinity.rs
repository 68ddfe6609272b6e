//! Where a bot's threads run: the cores its configuration reserves (`resources.cores`), the
//! cores the process may use, and the layout that follows from both.

use std::sync::OnceLock;

/// How the hot path is laid out over the reserved cores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// A feed thread hands updates to the strategy thread through the SPSC ring.
    Split,
    /// One thread reads the feed, decodes, detects and decides (fewer reserved cores than
    /// threads, or where that measures better).
    RunToCompletion,
}

impl Layout {
    /// The layout's name in reports and `/health` details.
    pub fn name(self) -> &'static str {
        match self {
            Self::Split => "feed thread -SPSC ring-> strategy thread",
            Self::RunToCompletion => {
                "run to completion (feed, decode, detect, decide on one thread)"
            }
        }
    }
}

/// The decided placement of a bot's threads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Layout of the hot path.
    pub layout: Layout,
    /// Core of the strategy thread (`None`: unpinned).
    pub strategy: Option<usize>,
    /// Core of the feed thread (`None`: unpinned, or no feed thread of its own).
    pub feed: Option<usize>,
    /// Cores of everything else (executor, live sender, control endpoint, reporting); empty:
    /// unconfined.
    pub others: Vec<usize>,
    /// Busy-poll (`true`) or park when idle.
    pub spin: bool,
    /// What could not be honoured, or was decided for want of cores, in words.
    pub warnings: Vec<String>,
}

/// The cores this process may run on, as the first caller saw them (before any thread of ours
/// narrowed its own mask). The bot process calls this first thing.
pub fn allowed_cores() -> &'static [usize] {
    static ALLOWED: OnceLock<Vec<usize>> = OnceLock::new();
    ALLOWED.get_or_init(current_mask)
}

impl Plan {
    /// The plan for reserved `cores` on a process allowed `allowed`: two or more cores give
    /// the feed the first and the strategy the second (`resources.cores` order); one core runs to completion on it
    /// (`feed_thread_needed`: the feed has its own thread anyway, as a Solana reader does, and
    /// then shares the other work's cores); a core the process cannot use leaves every thread
    /// unpinned, with a warning. The other work runs on the allowed cores that are not
    /// reserved, or where none is left, on the core that is not the strategy's.
    pub fn new(cores: &[usize], allowed: &[usize], spin: bool, feed_thread_needed: bool) -> Self {
        let mut plan = Self {
            layout: Layout::Split,
            strategy: None,
            feed: None,
            others: Vec::new(),
            spin,
            warnings: Vec::new(),
        };
        let missing: Vec<usize> = cores
            .iter()
            .copied()
            .filter(|c| !allowed.contains(c))
            .collect();
        if !missing.is_empty() {
            plan.warnings.push(format!(
                "resources.cores lists {missing:?}, which this process cannot run on (allowed: {allowed:?}): threads run unpinned"
            ));
            return plan;
        }
        let free: Vec<usize> = allowed
            .iter()
            .copied()
            .filter(|c| !cores.contains(c))
            .collect();
        match cores {
            [] => {}
            [only] => {
                plan.strategy = Some(*only);
                plan.others = if free.is_empty() { vec![*only] } else { free };
                if feed_thread_needed {
                    plan.warnings.push(format!(
                        "one reserved core ({only}) for the feed reader and the strategy: the reader runs on {:?}",
                        plan.others
                    ));
                } else {
                    plan.layout = Layout::RunToCompletion;
                    plan.warnings.push(format!(
                        "one reserved core ({only}) for two hot threads: running to completion on it"
                    ));
                }
                if plan.others == [*only] && spin {
                    plan.spin = false;
                    plan.warnings.push(format!(
                        "no unreserved core left: the other threads share core {only}, so the strategy parks instead of spinning"
                    ));
                }
            }
            [feed, strategy, ..] => {
                plan.strategy = Some(*strategy);
                plan.feed = Some(*feed);
                plan.others = if free.is_empty() {
                    plan.warnings.push(format!(
                        "no unreserved core left: the executor and control threads share the feed's core {feed}"
                    ));
                    vec![*feed]
                } else {
                    free
                };
            }
        }
        plan
    }

    /// What the plan is, in words (`/health` details and reports).
    pub fn describe(&self) -> String {
        let core = |c: Option<usize>| c.map_or("unpinned".to_string(), |c| format!("core {c}"));
        let idle = if self.spin { "spinning" } else { "parking" };
        let others = if self.others.is_empty() {
            "unconfined".to_string()
        } else {
            format!("cores {:?}", self.others)
        };
        match self.layout {
            Layout::Split => format!(
                "{}: strategy on {} ({idle}), feed on {}, other threads on {others}",
                self.layout.name(),
                core(self.strategy),
                core(self.feed),
            ),
            Layout::RunToCompletion => format!(
                "{} on {} ({idle}), other threads on {others}",
                self.layout.name(),
                core(self.strategy),
            ),
        }
    }
}

/// The placement that measures best on `allowed` cores (see the README's latency tables):
/// with three or more, the last two reserved (feed, strategy), spinning, the rest for
/// everything else; with two, the last one run to completion, spinning, the other for
/// everything else (a split pair would share a core with the executor, the control threads and
/// the rest of the machine); with one, parking. Returns the cores, spin, and why, in words.
pub fn best_placement(allowed: &[usize]) -> (Vec<usize>, bool, &'static str) {
    match allowed {
        [] => (
            Vec::new(),
            false,
            "no affinity mask readable: unpinned, parking",
        ),
        [only] => (
            vec![*only],
            false,
            "one core: run to completion on it, parking (the control threads share it)",
        ),
        [.., a, b] if allowed.len() >= 3 => (
            vec![*a, *b],
            true,
            "the last two cores reserved (feed, strategy), spinning; the others run everything else",
        ),
        [.., last] => (
            vec![*last],
            true,
            "two cores: run to completion on the last, spinning; the first runs everything else (a split feed/strategy pair would share a core with the executor, the control threads and the rest of the machine)",
        ),
    }
}

/// Pins the calling thread to `core`; `None` leaves it as it is.
pub fn pin_current(core: Option<usize>) -> Result<(), String> {
    match core {
        Some(c) => confine_current(&[c]),
        None => Ok(()),
    }
}

/// The cores the calling thread may run on now.
pub fn current_mask() -> Vec<usize> {
    match rustix::thread::sched_getaffinity(None) {
        Ok(set) => (0..rustix::thread::CpuSet::MAX_CPU)
            .filter(|&c| set.is_set(c))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Confines the calling thread (and the threads it spawns later) to `cores`; empty: as it is.
pub fn confine_current(cores: &[usize]) -> Result<(), String> {
    if cores.is_empty() {
        return Ok(());
    }
    let mut set = rustix::thread::CpuSet::new();
    for &c in cores {
        if c >= rustix::thread::CpuSet::MAX_CPU {
            return Err(format!("core {c} is beyond the affinity mask"));
        }
        set.set(c);
    }
    rustix::thread::sched_setaffinity(None, &set)
        .map_err(|e| format!("pinning to cores {cores:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_cores_split_and_the_rest_goes_elsewhere() {
        let p = Plan::new(&[2, 3], &[0, 1, 2, 3], true, false);
        assert_eq!(
            (p.layout, p.feed, p.strategy),
            (Layout::Split, Some(2), Some(3))
        );
        assert_eq!(p.others, vec![0, 1]);
        assert!(p.spin && p.warnings.is_empty());
    }

    #[test]
    fn with_no_free_core_the_other_work_shares_the_feed_core() {
        let p = Plan::new(&[0, 1], &[0, 1], true, false);
        assert_eq!(p.others, vec![0]);
        assert_eq!(p.strategy, Some(1));
        assert!(
            p.warnings[0].contains("share the feed's core 0"),
            "{:?}",
            p.warnings
        );
    }

    #[test]
    fn one_core_runs_to_completion_and_says_so() {
        let p = Plan::new(&[1], &[0, 1], true, false);
        assert_eq!(p.layout, Layout::RunToCompletion);
        assert_eq!((p.strategy, p.others.clone()), (Some(1), vec![0]));
        assert!(p.spin);
        assert!(
            p.warnings[0].contains("running to completion"),
            "{:?}",
            p.warnings
        );
        let alone = Plan::new(&[0], &[0], true, false);
        assert!(
            !alone.spin,
            "a spinner sharing its only core with the rest starves it"
        );
    }

    #[test]
    fn a_core_the_machine_lacks_leaves_everything_unpinned_with_a_warning() {
        let p = Plan::new(&[2, 64], &[0, 1, 2, 3], false, false);
        assert_eq!((p.strategy, p.feed), (None, None));
        assert!(p.others.is_empty());
        assert!(p.warnings[0].contains("[64]"), "{:?}", p.warnings);
    }
}
