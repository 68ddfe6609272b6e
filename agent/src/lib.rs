//! Per-node agent: reconciles desired bots against running ones through systemd, Nomad or plain processes (work starts with issue 6).
