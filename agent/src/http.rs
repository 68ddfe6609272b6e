//! A small HTTP/1.1 client (hyper) for the gateway and the bots' control endpoints: one
//! connection per request, a deadline over the whole exchange, `http://host:port` only.

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;

/// A failed exchange, naming the endpoint.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HttpError {
    /// The URL is not `http://host:port[/prefix]`.
    #[error("{0}: expected http://HOST:PORT (TLS terminates in front of the gateway)")]
    BadUrl(String),
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
    pub fn json(&self) -> Result<serde_json::Value, String> {
        serde_json::from_slice(&self.body).map_err(|e| format!("body is not JSON: {e}"))
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

/// Where requests go: host:port plus an optional path prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    authority: String,
    prefix: String,
}

impl Endpoint {
    /// Parses `http://HOST:PORT[/prefix]`.
    pub fn parse(url: &str) -> Result<Self, HttpError> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| HttpError::BadUrl(url.to_string()))?;
        let (authority, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.is_empty() || !authority.contains(':') {
            return Err(HttpError::BadUrl(url.to_string()));
        }
        Ok(Self {
            authority: authority.to_string(),
            prefix: prefix.to_string(),
        })
    }

    /// `127.0.0.1:PORT`.
    pub fn loopback(port: u16) -> Self {
        Self {
            authority: format!("127.0.0.1:{port}"),
            prefix: String::new(),
        }
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
        let endpoint = format!("{method} http://{}{}{path}", self.authority, self.prefix);
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
            let body = res
                .into_body()
                .collect()
                .await
                .map_err(|e| io(&e))?
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
        for bad in ["https://gw:443", "gw:80", "http://", "http://gw/x"] {
            let err = Endpoint::parse(bad).unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
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
