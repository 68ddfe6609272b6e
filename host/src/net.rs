//! Outbound connections the bots and the gateway make: URLs split into their parts, rustls
//! client configurations on the system's CA store (plus an operator's CA file), and one stream
//! type for plain TCP and TLS.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

/// A byte stream, plain or TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A URL or `host:port` that cannot be used (the text is the caller's, quoted).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// No `scheme://`.
    #[error("{url:?}: not a URL (no scheme://)")]
    NoScheme {
        /// The URL.
        url: String,
    },
    /// A scheme the caller does not take.
    #[error("{url:?}: scheme {scheme:?}, expected {expected}")]
    Scheme {
        /// The URL.
        url: String,
        /// Its scheme.
        scheme: String,
        /// The schemes taken, in words.
        expected: String,
    },
    /// Nothing between `://` and the path.
    #[error("{url:?}: no host")]
    NoHost {
        /// The URL.
        url: String,
    },
    /// A port that is not a number from 0 to 65535.
    #[error("{authority}: port {port:?} is not a number")]
    Port {
        /// `host:port` as given.
        authority: String,
        /// The port text.
        port: String,
    },
    /// `[v6` without its `]`.
    #[error("{authority}: unclosed '['")]
    Unclosed {
        /// `host:port` as given.
        authority: String,
    },
    /// Text after `[v6]` that is not `:port`.
    #[error("{authority}: unexpected {rest:?} after the address")]
    Trailing {
        /// `host:port` as given.
        authority: String,
        /// What followed.
        rest: String,
    },
}

/// A connection that could not be made (each names the address).
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// TCP did not connect in time.
    #[error("{addr}: connect timed out")]
    Timeout {
        /// `authority (host:port)`.
        addr: String,
    },
    /// TCP failed.
    #[error("{addr}: {source}")]
    Tcp {
        /// `authority (host:port)`.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// An `https`/`wss` URL without a TLS configuration.
    #[error("{addr}: no TLS configuration")]
    NoTls {
        /// `authority (host:port)`.
        addr: String,
    },
    /// The host is not a name TLS can verify.
    #[error("{host}: not a host name for TLS: {reason}")]
    ServerName {
        /// The host.
        host: String,
        /// Why.
        reason: String,
    },
    /// The TLS handshake did not finish in time.
    #[error("{addr}: TLS handshake timed out")]
    TlsTimeout {
        /// `authority (host:port)`.
        addr: String,
    },
    /// The TLS handshake failed (certificate, protocol).
    #[error("{addr}: TLS: {source}")]
    Tls {
        /// `authority (host:port)`.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
}

/// A TLS client configuration that could not be built.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TlsConfigError(String);

/// An `http(s)://` or `ws(s)://` URL in parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// `https` or `wss`.
    pub tls: bool,
    /// Host name or address (without brackets for IPv6).
    pub host: String,
    /// Port (the scheme's default when the URL names none).
    pub port: u16,
    /// Whether the URL named the port.
    pub explicit_port: bool,
    /// `host[:port]` as written (the Host header).
    pub authority: String,
    /// Path and query, at least `/`.
    pub path: String,
}

impl Url {
    /// Parses `url`, whose scheme must be one of `schemes` (`(name, tls)` pairs).
    pub fn parse(url: &str, schemes: &[(&str, bool)]) -> Result<Self, UrlError> {
        let (scheme, rest) = url.split_once("://").ok_or_else(|| UrlError::NoScheme {
            url: url.to_string(),
        })?;
        let tls = schemes
            .iter()
            .find(|(s, _)| s.eq_ignore_ascii_case(scheme))
            .map(|(_, tls)| *tls)
            .ok_or_else(|| {
                let names: Vec<String> = schemes.iter().map(|(s, _)| format!("{s}://")).collect();
                UrlError::Scheme {
                    url: url.to_string(),
                    scheme: scheme.to_string(),
                    expected: names.join(" or "),
                }
            })?;
        let (authority, path) = rest
            .split_once('/')
            .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
        if authority.is_empty() {
            return Err(UrlError::NoHost {
                url: url.to_string(),
            });
        }
        let (host, port) = split_host_port(authority, if tls { 443 } else { 80 })?;
        Ok(Self {
            tls,
            explicit_port: authority
                .rsplit_once(':')
                .is_some_and(|(_, p)| !p.contains(']')),
            host,
            port,
            authority: authority.to_string(),
            path,
        })
    }

    /// Connects (TCP, then TLS for `https`/`wss` with `tls`), each step bounded by `timeout`.
    pub async fn connect(
        &self,
        tls: Option<&Arc<rustls::ClientConfig>>,
        timeout: Duration,
    ) -> Result<Box<dyn Io>, ConnectError> {
        self.connect_to(None, tls, timeout).await
    }

    /// [`Url::connect`] to `resolved` (an address of the host already checked) when given, the
    /// TLS name still the URL's host.
    pub async fn connect_to(
        &self,
        resolved: Option<std::net::SocketAddr>,
        tls: Option<&Arc<rustls::ClientConfig>>,
        timeout: Duration,
    ) -> Result<Box<dyn Io>, ConnectError> {
        let addr = format!("{} ({}:{})", self.authority, self.host, self.port);
        let connect = async {
            match resolved {
                Some(a) => tokio::net::TcpStream::connect(a).await,
                None => tokio::net::TcpStream::connect((self.host.as_str(), self.port)).await,
            }
        };
        let stream = tokio::time::timeout(timeout, connect)
            .await
            .map_err(|_| ConnectError::Timeout { addr: addr.clone() })?
            .map_err(|source| ConnectError::Tcp {
                addr: addr.clone(),
                source,
            })?;
        let _ = stream.set_nodelay(true);
        if !self.tls {
            return Ok(Box::new(stream));
        }
        let tls = tls.ok_or_else(|| ConnectError::NoTls { addr: addr.clone() })?;
        let server = rustls::pki_types::ServerName::try_from(self.host.clone()).map_err(|e| {
            ConnectError::ServerName {
                host: self.host.clone(),
                reason: e.to_string(),
            }
        })?;
        let connector = tokio_rustls::TlsConnector::from(Arc::clone(tls));
        let stream = tokio::time::timeout(timeout, connector.connect(server, stream))
            .await
            .map_err(|_| ConnectError::TlsTimeout { addr: addr.clone() })?
            .map_err(|source| ConnectError::Tls { addr, source })?;
        Ok(Box::new(stream))
    }
}

/// `host[:port]` or `[v6]:port` → (host, port).
pub fn split_host_port(host: &str, default: u16) -> Result<(String, u16), UrlError> {
    let bad_port = |p: &str| UrlError::Port {
        authority: host.to_string(),
        port: p.to_string(),
    };
    if let Some(rest) = host.strip_prefix('[') {
        let (ip, after) = rest.split_once(']').ok_or_else(|| UrlError::Unclosed {
            authority: host.to_string(),
        })?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad_port(p))?,
            None if after.is_empty() => default,
            None => {
                return Err(UrlError::Trailing {
                    authority: host.to_string(),
                    rest: after.to_string(),
                });
            }
        };
        return Ok((ip.to_string(), port));
    }
    match host.rsplit_once(':') {
        Some((n, p)) => Ok((n.to_string(), p.parse().map_err(|_| bad_port(p))?)),
        None => Ok((host.to_string(), default)),
    }
}

/// A TLS client configuration trusting the system's CA store and the PEM certificates in
/// `extra_ca` (`what` names the file's purpose in errors).
pub fn tls_client(
    extra_ca: Option<&std::path::Path>,
    what: &str,
) -> Result<Arc<rustls::ClientConfig>, TlsConfigError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    // A missing or partly unreadable system store leaves https to the extra CA (if any).
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = extra_ca {
        let mut added = 0;
        let bad =
            |e: &dyn std::fmt::Display| TlsConfigError(format!("{what} {}: {e}", path.display()));
        for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(&e))? {
            let cert = cert.map_err(|e| bad(&e))?;
            roots.add(cert).map_err(|e| bad(&e))?;
            added += 1;
        }
        if added == 0 {
            return Err(bad(&"no PEM certificate in it"));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsConfigError(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(tls))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HTTP: &[(&str, bool)] = &[("http", false), ("https", true)];

    #[test]
    fn urls_split_into_their_parts() {
        let u = Url::parse("https://rpc.example.com/abc?k=1", HTTP).expect("url");
        assert_eq!(
            (
                u.tls,
                u.host.as_str(),
                u.port,
                u.explicit_port,
                u.path.as_str()
            ),
            (true, "rpc.example.com", 443, false, "/abc?k=1")
        );
        let u = Url::parse("http://127.0.0.1:8899", HTTP).expect("url");
        assert_eq!(
            (u.port, u.explicit_port, u.path.as_str()),
            (8899, true, "/")
        );
        let u = Url::parse("http://[::1]:9000/x", HTTP).expect("url");
        assert_eq!((u.host.as_str(), u.port), ("::1", 9000));
        let e = Url::parse("ftp://x", HTTP).expect_err("scheme");
        assert!(
            e.to_string().contains("expected http:// or https://"),
            "{e}"
        );
        let e = Url::parse("http://h:99999", HTTP).expect_err("port");
        assert!(e.to_string().contains("port \"99999\""), "{e}");
        assert!(Url::parse("localhost:80", HTTP).is_err());
    }
}
