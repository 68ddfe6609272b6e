//! The agent's side of the gateway protocol: register, heartbeat, the blocking desired-state
//! query and reports.

use std::time::Duration;

use serde_json::Value;

use crate::http::{Endpoint, HttpError};

pub use sniperforge_protocol::fleet::{Desired, DesiredBot, NodeInfo};
use sniperforge_protocol::fleet::{NodeRef, Report};

/// A gateway call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GatewayError {
    /// Not reachable, or no answer in time.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// It answered with an error status.
    #[error("{what}: HTTP {status}: {message}")]
    Status {
        /// The call.
        what: &'static str,
        /// Status.
        status: u16,
        /// Its message.
        message: String,
    },
    /// It answered something this agent cannot read.
    #[error("{what}: {message}")]
    Body {
        /// The call.
        what: &'static str,
        /// Why.
        message: String,
    },
}

impl GatewayError {
    /// The gateway forgot this node (it must register again).
    pub fn is_unknown_node(&self) -> bool {
        matches!(self, Self::Status { status: 404, .. })
    }
}

/// A client for one gateway with one token.
#[derive(Debug, Clone)]
pub struct GatewayClient {
    endpoint: Endpoint,
    token: String,
}

const CALL_DEADLINE: Duration = Duration::from_secs(5);

impl GatewayClient {
    /// A client for `url` (`http://HOST:PORT`).
    pub fn new(url: &str, token: String) -> Result<Self, HttpError> {
        Self::with_ca(url, token, None)
    }

    /// A client for `url` (`http://HOST:PORT` or `https://HOST:PORT`, trusting the system's
    /// CAs and those in `ca`).
    pub fn with_ca(
        url: &str,
        token: String,
        ca: Option<&std::path::Path>,
    ) -> Result<Self, HttpError> {
        Ok(Self {
            endpoint: Endpoint::parse_with_ca(url, ca)?,
            token,
        })
    }

    /// Whether the gateway is another host reached over plain HTTP.
    pub fn plaintext_remote(&self) -> bool {
        self.endpoint.plaintext_remote()
    }

    async fn call(
        &self,
        what: &'static str,
        method: &str,
        path: &str,
        body: Option<String>,
        deadline: Duration,
    ) -> Result<Value, GatewayError> {
        let r = self
            .endpoint
            .request(method, path, Some(&self.token), body, deadline)
            .await?;
        if !(200..300).contains(&r.status) {
            return Err(GatewayError::Status {
                what,
                status: r.status,
                message: r.error_message(),
            });
        }
        r.json().map_err(|e| GatewayError::Body {
            what,
            message: e.to_string(),
        })
    }

    /// Registers the node.
    pub async fn register(&self, node: &NodeInfo) -> Result<(), GatewayError> {
        let body = serde_json::to_string(node).map_err(|e| GatewayError::Body {
            what: "register",
            message: e.to_string(),
        })?;
        self.call(
            "register",
            "POST",
            "/api/v1/agent/register",
            Some(body),
            CALL_DEADLINE,
        )
        .await
        .map(|_| ())
    }

    /// Heartbeat.
    pub async fn heartbeat(
        &self,
        node_id: &sniperforge_protocol::NodeId,
    ) -> Result<(), GatewayError> {
        let body = serde_json::to_string(&NodeRef {
            node_id: node_id.clone(),
        })
        .map_err(|e| GatewayError::Body {
            what: "heartbeat",
            message: e.to_string(),
        })?;
        self.call(
            "heartbeat",
            "POST",
            "/api/v1/agent/heartbeat",
            Some(body),
            CALL_DEADLINE,
        )
        .await
        .map(|_| ())
    }

    /// The blocking query: answers when the desired index passes `index`, or after `wait`.
    pub async fn desired(
        &self,
        node_id: &str,
        index: i64,
        wait: Duration,
    ) -> Result<Desired, GatewayError> {
        let path = format!(
            "/api/v1/agent/desired?node_id={node_id}&index={index}&wait_ms={}",
            wait.as_millis()
        );
        let v = self
            .call("desired", "GET", &path, None, wait + CALL_DEADLINE)
            .await?;
        serde_json::from_value(v).map_err(|e| GatewayError::Body {
            what: "desired",
            message: e.to_string(),
        })
    }

    /// Sends a report.
    pub async fn report(&self, report: &Report) -> Result<(), GatewayError> {
        let body = serde_json::to_string(report).map_err(|e| GatewayError::Body {
            what: "report",
            message: e.to_string(),
        })?;
        self.call(
            "report",
            "POST",
            "/api/v1/agent/report",
            Some(body),
            CALL_DEADLINE,
        )
        .await
        .map(|_| ())
    }

    /// Posts what this node has of backtest `id` (`POST /api/v1/agent/backtests/{id}`; a 409
    /// says the gateway holds it closed).
    pub async fn backtest(
        &self,
        id: &str,
        result: &sniperforge_protocol::backtests::BacktestResult,
    ) -> Result<(), GatewayError> {
        let body = serde_json::to_string(result).map_err(|e| GatewayError::Body {
            what: "backtest result",
            message: e.to_string(),
        })?;
        self.call(
            "backtest result",
            "POST",
            &format!("/api/v1/agent/backtests/{id}"),
            Some(body),
            // A report of up to a few MiB.
            Duration::from_secs(30),
        )
        .await
        .map(|_| ())
    }
}
