//! The feed flags `bot`, `agent` and `up` share, and how they travel to a bot process.

use std::path::PathBuf;

/// Where a Solana feed connects and what it watches.
#[derive(Debug, Clone, clap::Args)]
pub struct SolanaArgs {
    /// Solana HTTP JSON-RPC endpoint (http:// or https://).
    #[arg(long)]
    pub rpc_url: Option<String>,
    /// Solana websocket pubsub endpoint (default: the RPC URL as ws(s)://, port + 1 when it
    /// names a port).
    #[arg(long)]
    pub ws_url: Option<String>,
    /// Commitment of snapshots and subscriptions: processed, confirmed or finalized.
    #[arg(long, default_value = "confirmed")]
    pub commitment: String,
    /// Markets file: {"tokens": [{"symbol", "mint", "usd"}], "pools": [address, ...]}.
    #[arg(long)]
    pub markets: Option<PathBuf>,
    /// Extra CA certificates (PEM) trusted for https/wss endpoints (and an https Geyser one).
    #[arg(long)]
    pub rpc_ca: Option<PathBuf>,
    /// Yellowstone gRPC (Geyser) endpoint for --feed yellowstone (http:// or https://); the
    /// snapshot still comes from --rpc-url.
    #[arg(long)]
    pub grpc_url: Option<String>,
    /// File whose first line is the Geyser endpoint's x-token (never put on the command line).
    #[arg(long)]
    pub grpc_x_token_file: Option<PathBuf>,
    /// Live mode: send bundles to this Jito block engine (JSON-RPC URL) instead of
    /// sendTransaction.
    #[arg(long)]
    pub jito_url: Option<String>,
    /// Live mode: the Jito tip account each bundle pays.
    #[arg(long)]
    pub jito_tip_account: Option<String>,
    /// Live mode: lamports tipped per bundle.
    #[arg(long, default_value_t = 10_000)]
    pub jito_tip_lamports: u64,
}

/// The market feed a bot runs on.
#[derive(Debug, Clone, clap::Args)]
pub struct FeedArgs {
    /// Market feed: sim (the embedded simulator), replay:FILE (a recording), solana (an RPC
    /// node: --rpc-url and --markets) or yellowstone (snapshots from --rpc-url, updates over
    /// the Yellowstone gRPC stream at --grpc-url; builds with `--features yellowstone`).
    #[arg(long, default_value = "sim")]
    pub feed: String,
    /// Replay as fast as the bot takes the records, not at their recorded pace.
    #[arg(long)]
    pub replay_max_speed: bool,
    #[command(flatten)]
    pub solana: SolanaArgs,
}

impl FeedArgs {
    /// The same feed as `sniperforge bot` arguments, files as absolute paths (bots run in
    /// their own directories).
    pub fn bot_args(&self) -> Vec<String> {
        let abs = |p: &std::path::Path| {
            std::path::absolute(p)
                .unwrap_or_else(|_| p.to_path_buf())
                .display()
                .to_string()
        };
        let feed = match self.feed.strip_prefix("replay:") {
            Some(path) => format!("replay:{}", abs(std::path::Path::new(path))),
            None => self.feed.clone(),
        };
        let mut args = vec!["--feed".to_string(), feed];
        if self.replay_max_speed {
            args.push("--replay-max-speed".into());
        }
        let s = &self.solana;
        for (flag, value) in [
            ("--rpc-url", s.rpc_url.clone()),
            ("--ws-url", s.ws_url.clone()),
            ("--markets", s.markets.as_deref().map(abs)),
            ("--rpc-ca", s.rpc_ca.as_deref().map(abs)),
            ("--grpc-url", s.grpc_url.clone()),
            (
                "--grpc-x-token-file",
                s.grpc_x_token_file.as_deref().map(abs),
            ),
            ("--jito-url", s.jito_url.clone()),
            ("--jito-tip-account", s.jito_tip_account.clone()),
        ] {
            if let Some(v) = value {
                args.extend([flag.to_string(), v]);
            }
        }
        if self.feed == "solana" || self.feed == "yellowstone" {
            args.extend(["--commitment".into(), s.commitment.clone()]);
        }
        if s.jito_url.is_some() {
            args.extend([
                "--jito-tip-lamports".into(),
                s.jito_tip_lamports.to_string(),
            ]);
        }
        args
    }
}

impl SolanaArgs {
    /// The feed options these flags give (the markets file read and checked).
    pub fn options(&self) -> anyhow::Result<sniperforge_solana::SolanaOptions> {
        let rpc_url = self.rpc_url.clone().ok_or_else(|| {
            anyhow::anyhow!("a Solana feed needs --rpc-url URL (the node's JSON-RPC)")
        })?;
        let markets = self.markets.as_deref().ok_or_else(|| {
            anyhow::anyhow!("a Solana feed needs --markets FILE (the pools to watch)")
        })?;
        Ok(sniperforge_solana::SolanaOptions {
            rpc_url,
            ws_url: self.ws_url.clone(),
            commitment: self.commitment.clone(),
            markets: Some(
                sniperforge_solana::Markets::load(markets).map_err(|e| anyhow::anyhow!("{e}"))?,
            ),
            ca: self.rpc_ca.clone(),
            jito: None,
            grpc: self
                .grpc_url
                .as_deref()
                .map(|url| {
                    sniperforge_solana::GrpcOptions::new(url, self.grpc_x_token_file.as_deref())
                })
                .transpose()
                .map_err(|e| anyhow::anyhow!("{e}"))?,
        })
    }
}
