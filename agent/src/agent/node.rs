//! What the agent says of its node when it registers.

use super::*;

/// This machine's description for registration.
pub fn local_node(node_id: sniperforge_protocol::NodeId, backend: &str) -> NodeInfo {
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    let isolated = std::fs::read_to_string("/sys/devices/system/cpu/isolated")
        .map(|s| parse_cpu_list(&s))
        .unwrap_or_default();
    let memory_mb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024);
    NodeInfo {
        node_id,
        hostname,
        cores,
        isolated_cores: isolated,
        memory_mb,
        backend: backend.to_string(),
        environments: None,
        labels: std::collections::BTreeMap::new(),
        // This agent renews its failing-over bots' fencing lease (agent/fence.rs).
        fences: true,
        failover_after_s: None,
        agent: Some(sniperforge_protocol::fleet::Build {
            version: sniperforge_host::build::VERSION.to_string(),
            build_id: sniperforge_host::build::this_build_id().to_string(),
        }),
        installed: None,
    }
}

/// Parses a kernel CPU list (`0-2,5`); a malformed one reads as empty.
pub fn parse_cpu_list(s: &str) -> Vec<u32> {
    sniperforge_protocol::cpus::parse_cpu_list(s)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|c| u32::try_from(c).ok())
        .collect()
}
