//! A small HTTP/1.1 client (hyper) for the gateway and the bots' control endpoints: one
//! connection per request, a deadline over the whole exchange, `http://host:port` or
//! `https://host:port` (rustls: the system's CAs and an extra CA file), answers of at most
//! [`MAX_ANSWER`] bytes.

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;

/// A failed exchange, naming the endpoint.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HttpError {
    /// The URL is not `http://host:port[/prefix]` or `https://host:port[/prefix]`.
    #[error("{0}: expected http://HOST:PORT or https://HOST:PORT")]
    BadUrl(String),
    /// The TLS configuration (an extra CA file) could not be made.
    #[error("TLS: {0}")]
    Tls(String),
    /// Connecting, sending or reading failed.
    #[error("{endpoint}: {message}")]
    Io {
        /// `METHOD http://host/path`.
        endpoint: String,
        /// What went wrong.
        message: String,
    },
    /// No complete answer before the deadline.
    #[error("{0}: no answer within {1:?}")]
    Timeout(String, Duration),
}

/// A body that is not what was expected.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// Not JSON at all.
    #[error("body is not JSON: {0}")]
    NotJson(serde_json::Error),
    /// JSON, not of the expected shape.
    #[error("body: {0}")]
    Shape(serde_json::Error),
}

/// An answer: status and body.
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Body bytes.
    pub body: Bytes,
}

impl Response {
    /// The body as JSON, or why not.
    pub fn json(&self) -> Result<serde_json::Value, BodyError> {
        serde_json::from_slice(&self.body).map_err(BodyError::NotJson)
    }

    /// The body read as a `T`.
    pub fn json_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, BodyError> {
        serde_json::from_slice(&self.body).map_err(BodyError::Shape)
    }

    /// The server's `{"error": {"message"}}`, or the body's start.
    pub fn error_message(&self) -> String {
        self.json()
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| {
                String::from_utf8_lossy(&self.body[..self.body.len().min(200)]).into_owned()
            })
    }
}

/// Largest answer read (the gateway's desired state of a full node is well under it).
pub const MAX_ANSWER: usize = 64 << 20;

/// Where requests go: host:port plus an optional path prefix, and TLS for `https://`.
#[derive(Debug, Clone)]
pub struct Endpoint {
    authority: String,
    prefix: String,
    /// For `https://`: the server name checked against the certificate, and the client config.
    tls: Option<(String, std::sync::Arc<rustls::ClientConfig>)>,
    /// The longest answer read (bytes).
    max_answer: usize,
}

/// The longest answer a bot's control endpoint may give: what the agent keeps of one is far
/// smaller (a report carries at most 64 KiB of a bot's status and metrics), so more is refused
/// before it is read whole.
pub const BOT_ANSWER_MAX: usize = 1 << 20;

impl PartialEq for Endpoint {
    fn eq(&self, other: &Self) -> bool {
        self.authority == other.authority
            && self.prefix == other.prefix
            && self.tls.as_ref().map(|t| &t.0) == other.tls.as_ref().map(|t| &t.0)
    }
}

impl Eq for Endpoint {}

impl Endpoint {
    /// Parses `http://HOST:PORT[/prefix]` (https:// with [`Endpoint::parse_with_ca`]).
    pub fn parse(url: &str) -> Result<Self, HttpError> {
        Self::parse_with_ca(url, None)
    }

    /// Parses `http://HOST:PORT[/prefix]` or `https://HOST:PORT[/prefix]`; https trusts the
    /// system's CAs and those in `ca` (PEM).
    pub fn parse_with_ca(url: &str, ca: Option<&std::path::Path>) -> Result<Self, HttpError> {
        let (rest, https) = match (url.strip_prefix("http://"), url.strip_prefix("https://")) {
            (Some(rest), _) => (rest, false),
            (None, Some(rest)) => (rest, true),
            (None, None) => return Err(HttpError::BadUrl(url.to_string())),
        };
        let (authority, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.is_empty() || authority.contains('@') || !authority.is_ascii() {
            return Err(HttpError::BadUrl(url.to_string()));
        }
        // No port: the scheme's (the connection needs host:port).
        let authority = match sniperforge_host::net::split_host_port(authority, 0) {
            Ok((_, 0)) if https => format!("{authority}:443"),
            Ok((_, 0)) => return Err(HttpError::BadUrl(url.to_string())),
            Ok(_) => authority.to_string(),
            Err(_) => return Err(HttpError::BadUrl(url.to_string())),
        };
        let authority = authority.as_str();
        let tls = if https {
            let (host, _) = sniperforge_host::net::split_host_port(authority, 443)
                .map_err(|_| HttpError::BadUrl(url.to_string()))?;
            let config = sniperforge_host::net::tls_client(ca, "--gateway-ca")
                .map_err(|e| HttpError::Tls(e.to_string()))?;
            Some((host, config))
        } else {
            None
        };
        Ok(Self {
            authority: authority.to_string(),
            prefix: prefix.to_string(),
            tls,
            max_answer: MAX_ANSWER,
        })
    }

    /// Whether requests go in clear text to another host (tokens could be read on the way).
    pub fn plaintext_remote(&self) -> bool {
        let host = sniperforge_host::net::split_host_port(&self.authority, 0)
            .map(|(h, _)| h)
            .unwrap_or_default();
        let loopback = host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        self.tls.is_none() && !loopback
    }

    /// `127.0.0.1:PORT`: a bot's control endpoint (answers of at most [`BOT_ANSWER_MAX`]).
    pub fn loopback(port: u16) -> Self {
        Self {
            authority: format!("127.0.0.1:{port}"),
            prefix: String::new(),
            tls: None,
            max_answer: BOT_ANSWER_MAX,
        }
    }

    fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// Sends one request and reads the whole answer within `deadline`.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<String>,
        deadline: Duration,
    ) -> Result<Response, HttpError> {
        let endpoint = format!(
            "{method} {}://{}{}{path}",
            self.scheme(),
            self.authority,
            self.prefix
        );
        match tokio::time::timeout(
            deadline,
            self.exchange(method, path, token, body, &endpoint),
        )
        .await
        {
            Ok(r) => r,
            Err(_) => Err(HttpError::Timeout(endpoint, deadline)),
        }
    }

    async fn exchange(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<String>,
        endpoint: &str,
    ) -> Result<Response, HttpError> {
        let io = |e: &dyn std::fmt::Display| HttpError::Io {
            endpoint: endpoint.to_string(),
            message: e.to_string(),
        };
        let stream = tokio::net::TcpStream::connect(&self.authority)
            .await
            .map_err(|e| io(&e))?;
        let _ = stream.set_nodelay(true);
        let stream: Box<dyn sniperforge_host::net::Io> = match &self.tls {
            None => Box::new(stream),
            Some((host, config)) => {
                let name = rustls::pki_types::ServerName::try_from(host.clone())
                    .map_err(|e| io(&format!("{host}: not a name for TLS: {e}")))?;
                let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::clone(config))
                    .connect(name, stream)
                    .await
                    .map_err(|e| io(&format!("TLS: {e}")))?;
                Box::new(tls)
            }
        };
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| io(&e))?;
        let driver = tokio::spawn(conn);
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.prefix))
            .header("host", &self.authority);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| io(&e))?;
        let result = async {
            let res = sender.send_request(req).await.map_err(|e| io(&e))?;
            let status = res.status().as_u16();
            let max = self.max_answer;
            let body = http_body_util::Limited::new(res.into_body(), max)
                .collect()
                .await
                .map_err(|e| io(&format!("reading the answer (at most {max} bytes): {e}")))?
                .to_bytes();
            Ok(Response { status, body })
        }
        .await;
        driver.abort();
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_or_say_why_not() {
        let e = Endpoint::parse("http://127.0.0.1:8080/").unwrap();
        assert_eq!(e, Endpoint::loopback(8080));
        let e = Endpoint::parse("http://gw.internal:80/prefix/").unwrap();
        assert_eq!(e.prefix, "/prefix");
        for bad in [
            "ftp://gw:21",
            "gw:80",
            "http://",
            "http://gw/x",
            "http://user@gw:80",
        ] {
            let err = Endpoint::parse(bad).unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
        let e = Endpoint::parse("https://gw.internal/api").unwrap();
        assert_eq!(e.authority, "gw.internal:443");
        assert!(!e.plaintext_remote());
        assert!(
            Endpoint::parse("http://gw.internal:80")
                .unwrap()
                .plaintext_remote()
        );
        assert!(!Endpoint::loopback(80).plaintext_remote());
        let e = Endpoint::parse("https://gw.internal:8443/api").unwrap();
        assert_eq!(e.scheme(), "https");
        assert_eq!(e.tls.as_ref().map(|t| t.0.as_str()), Some("gw.internal"));
        let missing = Endpoint::parse_with_ca(
            "https://gw:443",
            Some(std::path::Path::new("/nonexistent/ca.pem")),
        )
        .unwrap_err()
        .to_string();
        assert!(missing.contains("/nonexistent/ca.pem"), "{missing}");
    }

    #[tokio::test]
    async fn a_dead_endpoint_is_an_error_naming_it() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let err = Endpoint::loopback(port)
            .request("GET", "/health", None, None, Duration::from_secs(2))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("GET http://127.0.0.1:{port}/health")),
            "{err}"
        );
    }
}
