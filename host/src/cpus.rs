//! The CPU mask this process may run on.

use std::sync::OnceLock;

/// The cores this process may run on, as the first caller saw them (before any thread of ours
/// narrowed its own mask). The bot process calls this first thing.
pub fn allowed_cores() -> &'static [usize] {
    static ALLOWED: OnceLock<Vec<usize>> = OnceLock::new();
    ALLOWED.get_or_init(current_mask)
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
