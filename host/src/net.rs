//! Outbound connections the bots and the gateway make: URLs split into their parts, rustls
//! client configurations on the system's CA store (plus an operator's CA file), and one stream
//! type for plain TCP and TLS.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

/// A byte stream, plain or TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

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
    pub fn parse(url: &str, schemes: &[(&str, bool)]) -> Result<Self, String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| format!("{url:?}: not a URL (no scheme://)"))?;
        let tls = schemes
            .iter()
            .find(|(s, _)| s.eq_ignore_ascii_case(scheme))
            .map(|(_, tls)| *tls)
            .ok_or_else(|| {
                let names: Vec<String> = schemes.iter().map(|(s, _)| format!("{s}://")).collect();
                format!(
                    "{url:?}: scheme {scheme:?}, expected {}",
                    names.join(" or ")
                )
            })?;
        let (authority, path) = rest
            .split_once('/')
            .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
        if authority.is_empty() {
            return Err(format!("{url:?}: no host"));
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
    ) -> Result<Box<dyn Io>, String> {
        self.connect_to(None, tls, timeout).await
    }

    /// [`Url::connect`] to `resolved` (an address of the host already checked) when given, the
    /// TLS name still the URL's host.
    pub async fn connect_to(
        &self,
        resolved: Option<std::net::SocketAddr>,
        tls: Option<&Arc<rustls::ClientConfig>>,
        timeout: Duration,
    ) -> Result<Box<dyn Io>, String> {
        let addr = format!("{} ({}:{})", self.authority, self.host, self.port);
        let connect = async {
            match resolved {
                Some(a) => tokio::net::TcpStream::connect(a).await,
                None => tokio::net::TcpStream::connect((self.host.as_str(), self.port)).await,
            }
        };
        let stream = tokio::time::timeout(timeout, connect)
            .await
            .map_err(|_| format!("{addr}: connect timed out"))?
            .map_err(|e| format!("{addr}: {e}"))?;
        let _ = stream.set_nodelay(true);
        if !self.tls {
            return Ok(Box::new(stream));
        }
        let tls = tls.ok_or_else(|| format!("{addr}: no TLS configuration"))?;
        let server = rustls::pki_types::ServerName::try_from(self.host.clone())
            .map_err(|e| format!("{}: not a host name for TLS: {e}", self.host))?;
        let connector = tokio_rustls::TlsConnector::from(Arc::clone(tls));
        let stream = tokio::time::timeout(timeout, connector.connect(server, stream))
            .await
            .map_err(|_| format!("{addr}: TLS handshake timed out"))?
            .map_err(|e| format!("{addr}: TLS: {e}"))?;
        Ok(Box::new(stream))
    }
}

/// `host[:port]` or `[v6]:port` → (host, port).
pub fn split_host_port(host: &str, default: u16) -> Result<(String, u16), String> {
    let bad_port = |p: &str| format!("{host}: port {p:?} is not a number");
    if let Some(rest) = host.strip_prefix('[') {
        let (ip, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("{host}: unclosed '['"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad_port(p))?,
            None if after.is_empty() => default,
            None => return Err(format!("{host}: unexpected {after:?} after the address")),
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
) -> Result<Arc<rustls::ClientConfig>, String> {
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
        for cert in CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("{what} {}: {e}", path.display()))?
        {
            let cert = cert.map_err(|e| format!("{what} {}: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("{what} {}: {e}", path.display()))?;
            added += 1;
        }
        if added == 0 {
            return Err(format!(
                "{what} {}: no PEM certificate in it",
                path.display()
            ));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
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
        assert!(e.contains("expected http:// or https://"), "{e}");
        let e = Url::parse("http://h:99999", HTTP).expect_err("port");
        assert!(e.contains("port \"99999\""), "{e}");
        assert!(Url::parse("localhost:80", HTTP).is_err());
    }
}
