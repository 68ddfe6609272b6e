//! Where a bot's threads run: the cores its configuration reserves (`resources.cores`), the
//! cores the process may use, and the layout that follows from both.

use std::sync::OnceLock;

pub use sniperforge_host::cpus::{allowed_cores, current_mask};
use sniperforge_protocol::cpus::parse_cpu_list;

// The protocol's CPU lists and the kernel's masks hold the same cores.
const _: () = assert!(rustix::thread::CpuSet::MAX_CPU == sniperforge_protocol::cpus::MAX_CPU);

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

impl Plan {
    /// Keeps the other threads (executor, live sender, control endpoint, reporting) to
    /// `shared`, the cores the node leaves to work off the hot paths (the agent's
    /// `--shared-cores`: no bot's reserved core, no isolated one), where the planned ones
    /// include any; otherwise as planned (in a Nomad allocation the process may only run on its
    /// own reserved cores and Nomad's shared ones, which the plan already keeps to).
    pub fn within_shared(mut self, shared: &[usize]) -> Self {
        let hot = [self.strategy, self.feed];
        let narrowed: Vec<usize> = self
            .others
            .iter()
            .copied()
            .filter(|c| shared.contains(c) && !hot.contains(&Some(*c)))
            .collect();
        if !narrowed.is_empty() {
            self.others = narrowed;
        }
        self
    }

    /// The plan of this bot process for its configured `resources.cores`: mapped onto the
    /// cores a Nomad allocation reserved ([`reserved_cores`]), on the cores the process may use,
    /// with the other threads kept to the node's shared cores ([`set_shared_cores`]).
    pub fn for_this_process(configured: &[usize], spin: bool, feed_thread_needed: bool) -> Self {
        let (cores, note) = reserved_cores(configured);
        let mut plan = Self::new(&cores, allowed_cores(), spin, feed_thread_needed)
            .within_shared(shared_cores());
        plan.warnings.splice(0..0, note);
        plan
    }
}

/// `configured` (`resources.cores`) placed on `granted`, the cores a supervisor reserved for
/// this process when it chooses them itself (Nomad's `resources { cores = N }`): as
/// configured when they are among the granted ones, else the granted cores in their place,
/// in order (the configuration then says how many cores and which does what: the first the
/// feed, the second the strategy). With a note saying so; fewer granted cores than configured
/// leaves the configuration as it is (the plan then warns that it cannot run there).
pub fn map_reserved(
    configured: &[usize],
    granted: Option<&[usize]>,
) -> (Vec<usize>, Option<String>) {
    match granted {
        Some(granted)
            if !configured.is_empty() && !configured.iter().all(|c| granted.contains(c)) =>
        {
            if granted.len() < configured.len() {
                return (
                    configured.to_vec(),
                    Some(format!(
                        "resources.cores {configured:?}: the allocation reserved only {granted:?} (NOMAD_CPU_CORES)"
                    )),
                );
            }
            let mapped = granted[..configured.len()].to_vec();
            let note = format!(
                "resources.cores {configured:?} run on {mapped:?}, the cores the allocation reserved (NOMAD_CPU_CORES {granted:?})"
            );
            (mapped, Some(note))
        }
        _ => (configured.to_vec(), None),
    }
}

/// The cores a Nomad allocation reserved for this task (`NOMAD_CPU_CORES`), read once; `None`
/// outside such an allocation or when the variable cannot be read (logged).
pub fn nomad_cores() -> Option<&'static [usize]> {
    static NOMAD: OnceLock<Option<Vec<usize>>> = OnceLock::new();
    NOMAD
        .get_or_init(|| {
            let list = std::env::var("NOMAD_CPU_CORES").ok()?;
            match parse_cpu_list(&list) {
                Ok(cores) if !cores.is_empty() => Some(cores),
                Ok(_) => None,
                Err(e) => {
                    tracing::warn!(error = %e, "NOMAD_CPU_CORES ignored");
                    None
                }
            }
        })
        .as_deref()
}

/// `resources.cores` where this process runs them (see [`map_reserved`]).
pub fn reserved_cores(configured: &[usize]) -> (Vec<usize>, Option<String>) {
    map_reserved(configured, nomad_cores())
}

static SHARED: OnceLock<Vec<usize>> = OnceLock::new();

/// Records the node's shared cores for this process (the bot's `--shared-cores`); the first
/// call wins.
pub fn set_shared_cores(cores: Vec<usize>) {
    let _ = SHARED.set(cores);
}

/// The node's shared cores as recorded (empty: not given).
pub fn shared_cores() -> &'static [usize] {
    SHARED.get().map_or(&[], Vec::as_slice)
}

/// The placement that measures best on `allowed` cores (see the latency tables in docs/benchmarks.md):
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

/// A thread that could not be confined to its cores.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    /// A core past what the affinity mask can name.
    #[error("core {0} is beyond the affinity mask")]
    BeyondMask(usize),
    /// The kernel refused the mask (a core offline or outside the cgroup's set).
    #[error("pinning to cores {cores:?}: {source}")]
    Refused {
        /// The cores asked for.
        cores: Vec<usize>,
        /// The kernel's answer.
        source: rustix::io::Errno,
    },
}

/// Pins the calling thread to `core`; `None` leaves it as it is.
pub fn pin_current(core: Option<usize>) -> Result<(), PinError> {
    match core {
        Some(c) => confine_current(&[c]),
        None => Ok(()),
    }
}

/// Confines the calling thread (and the threads it spawns later) to `cores`; empty: as it is.
pub fn confine_current(cores: &[usize]) -> Result<(), PinError> {
    if cores.is_empty() {
        return Ok(());
    }
    let mut set = rustix::thread::CpuSet::new();
    for &c in cores {
        if c >= rustix::thread::CpuSet::MAX_CPU {
            return Err(PinError::BeyondMask(c));
        }
        set.set(c);
    }
    rustix::thread::sched_setaffinity(None, &set).map_err(|source| PinError::Refused {
        cores: cores.to_vec(),
        source,
    })
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
    fn other_threads_keep_to_the_node_shared_cores_where_any_is_left() {
        // Cores 2 and 3 are another bot's: the executor stays on 0 and 1.
        let p = Plan::new(&[4, 5], &[0, 1, 2, 3, 4, 5], true, false).within_shared(&[0, 1]);
        assert_eq!(p.others, vec![0, 1]);
        // Nothing shared among the allowed cores (a Nomad allocation's own): as planned.
        let p = Plan::new(&[4, 5], &[4, 5, 6], true, false).within_shared(&[0, 1]);
        assert_eq!(p.others, vec![6]);
        // The fallback onto the feed's core is never narrowed away.
        let p = Plan::new(&[0, 1], &[0, 1], true, false).within_shared(&[0]);
        assert_eq!(p.others, vec![0]);
    }

    #[test]
    fn nomad_reserved_cores_take_the_place_of_the_configured_ones() {
        assert_eq!(map_reserved(&[2, 3], None), (vec![2, 3], None));
        assert_eq!(map_reserved(&[2, 3], Some(&[1, 2, 3])), (vec![2, 3], None));
        let (cores, note) = map_reserved(&[2, 3], Some(&[5, 9]));
        assert_eq!(cores, vec![5, 9]);
        assert!(note.unwrap().contains("[5, 9]"));
        let (cores, note) = map_reserved(&[2, 3], Some(&[5]));
        assert_eq!(cores, vec![2, 3]);
        assert!(note.unwrap().contains("only [5]"));
        assert_eq!(map_reserved(&[], Some(&[5])), (vec![], None));
    }

    #[test]
    fn a_core_the_machine_lacks_leaves_everything_unpinned_with_a_warning() {
        let p = Plan::new(&[2, 64], &[0, 1, 2, 3], false, false);
        assert_eq!((p.strategy, p.feed), (None, None));
        assert!(p.others.is_empty());
        assert!(p.warnings[0].contains("[64]"), "{:?}", p.warnings);
    }
}
