//! Kernel CPU lists (`0-2,7`): reserved and shared cores on the command line, isolated cores,
//! cgroup `cpuset.cpus` and Nomad's `NOMAD_CPU_CORES`.

/// Cores an affinity mask can hold on Linux (`CPU_SETSIZE`): a core number at or past it is
/// refused.
pub const MAX_CPU: usize = 1024;

/// Parses a kernel CPU list (`0-2,7,12-14`, as in `/sys/devices/system/cpu/isolated`, a
/// cgroup's `cpuset.cpus` or Nomad's `NOMAD_CPU_CORES`); cores past the affinity mask's size
/// and malformed lists are refused with what was wrong.
///
/// ```
/// use sniperforge_protocol::cpus::parse_cpu_list;
/// assert_eq!(parse_cpu_list("0-2,7\n").unwrap(), vec![0, 1, 2, 7]);
/// assert!(parse_cpu_list("3-1").unwrap_err().to_string().contains("backwards"));
/// ```
pub fn parse_cpu_list(s: &str) -> Result<Vec<usize>, CpuListError> {
    let core = |t: &str| -> Result<usize, CpuListError> {
        let c: usize = t.trim().parse().map_err(|_| CpuListError::NotACore {
            token: t.to_string(),
            list: s.to_string(),
        })?;
        if c >= MAX_CPU {
            return Err(CpuListError::PastMax {
                core: c,
                list: s.to_string(),
            });
        }
        Ok(c)
    };
    // One flag per core the mask can hold: repeated ranges cost nothing.
    let mut set = vec![false; MAX_CPU];
    for part in s.trim().split(',').filter(|p| !p.trim().is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (core(a)?, core(b)?);
                if a > b {
                    return Err(CpuListError::Backwards {
                        range: part.to_string(),
                        list: s.to_string(),
                    });
                }
                set[a..=b].iter_mut().for_each(|c| *c = true);
            }
            None => set[core(part)?] = true,
        }
    }
    Ok((0..MAX_CPU).filter(|&c| set[c]).collect())
}

/// What is wrong with a CPU list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CpuListError {
    /// A part is not a number.
    #[error("{token:?} in CPU list {list:?} is not a core number")]
    NotACore {
        /// The part.
        token: String,
        /// The whole list.
        list: String,
    },
    /// A core number at or past [`MAX_CPU`].
    #[error("core {core} in CPU list {list:?} is past {}", MAX_CPU - 1)]
    PastMax {
        /// The core.
        core: usize,
        /// The whole list.
        list: String,
    },
    /// A range whose start is after its end.
    #[error("range {range:?} in CPU list {list:?} runs backwards")]
    Backwards {
        /// The range.
        range: String,
        /// The whole list.
        list: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse_or_say_what_is_wrong() {
        assert_eq!(
            parse_cpu_list("0-2,7,12-13\n"),
            Ok(vec![0, 1, 2, 7, 12, 13])
        );
        assert_eq!(parse_cpu_list(""), Ok(vec![]));
        assert!(
            parse_cpu_list("x,3")
                .unwrap_err()
                .to_string()
                .contains("\"x\"")
        );
        assert!(
            parse_cpu_list("5-2")
                .unwrap_err()
                .to_string()
                .contains("backwards")
        );
        assert!(
            parse_cpu_list("0-4294967295")
                .unwrap_err()
                .to_string()
                .contains("past")
        );
        // Repeats are free: a long list of the same range is one range.
        assert_eq!(
            parse_cpu_list(&"0-3,".repeat(20_000)).unwrap(),
            vec![0, 1, 2, 3]
        );
    }
}
