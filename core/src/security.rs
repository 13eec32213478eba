//! Cluster credentials: the shared token every gRPC call carries and the TLS files every
//! endpoint presents. Plain data and checks on request metadata; no socket is opened here.

use crate::{Error, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tonic::metadata::{AsciiMetadataValue, MetadataMap};
use tonic::service::Interceptor;
use tonic::{Request, Status};

/// Metadata key that carries the token (`authorization: Bearer <token>`).
pub const TOKEN_METADATA: &str = "authorization";
/// Name every Tessera certificate must carry (as a DNS subject alternative name) and the
/// name clients verify, whatever address they dial: cluster members are identified by
/// holding a certificate signed by the cluster's CA, not by their host names.
pub const TLS_SERVER_NAME: &str = "tessera";
/// Longest token accepted, in bytes.
pub const MAX_TOKEN_BYTES: usize = 4096;
/// Largest PEM file read for TLS, in bytes.
const MAX_PEM_BYTES: u64 = 1 << 20;

/// PEM-encoded TLS material of one cluster member: the CA that signs every member, and
/// this member's certificate and private key (used as server and as client: mutual TLS).
#[derive(Clone)]
pub struct TlsPem {
    /// The cluster CA certificate(s), PEM.
    pub ca: Vec<u8>,
    /// This member's certificate chain, PEM.
    pub cert: Vec<u8>,
    /// This member's private key, PEM.
    pub key: Vec<u8>,
}

impl std::fmt::Debug for TlsPem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsPem { .. }")
    }
}

/// Where a member's credentials live on disk, as the command line names them. Kept
/// beside the loaded [`Security`] so a local cluster can hand the same files to the
/// processes it starts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecurityFiles {
    /// File holding the shared token (surrounding whitespace is ignored).
    pub token_file: Option<PathBuf>,
    /// The cluster CA certificate, PEM.
    pub tls_ca_file: Option<PathBuf>,
    /// This member's certificate, PEM.
    pub tls_cert: Option<PathBuf>,
    /// This member's private key, PEM.
    pub tls_key: Option<PathBuf>,
}

impl SecurityFiles {
    /// The three TLS files of a directory written by `tessera certs` (`ca.pem`,
    /// `cert.pem`, `key.pem`) and its `token`.
    pub fn in_dir(dir: &Path) -> SecurityFiles {
        SecurityFiles {
            token_file: Some(dir.join("token")),
            tls_ca_file: Some(dir.join("ca.pem")),
            tls_cert: Some(dir.join("cert.pem")),
            tls_key: Some(dir.join("key.pem")),
        }
    }

    /// Whether any credential is named.
    pub fn is_empty(&self) -> bool {
        self == &SecurityFiles::default()
    }

    /// Read the files. TLS needs all three of CA, certificate and key; a missing or
    /// unreadable file is an error naming it.
    pub fn load(&self) -> Result<Security> {
        let mut security = Security::none();
        if let Some(path) = &self.token_file {
            let text = String::from_utf8(read_limited(path)?).map_err(|_| {
                Error::Other(format!("token file {} is not UTF-8 text", path.display()))
            })?;
            security = security.with_token(text.trim()).map_err(|e| {
                Error::Other(format!("token file {}: {}", path.display(), e.message()))
            })?;
        }
        match (&self.tls_ca_file, &self.tls_cert, &self.tls_key) {
            (None, None, None) => {}
            (Some(ca), Some(cert), Some(key)) => {
                security = security.with_tls(TlsPem {
                    ca: read_limited(ca)?,
                    cert: read_limited(cert)?,
                    key: read_limited(key)?,
                });
            }
            _ => {
                return Err(Error::Other(
                    "TLS needs all three of --tls-ca-file, --tls-cert and --tls-key".into(),
                ));
            }
        }
        Ok(security)
    }

    /// The command-line flags naming these files, for a process to be started with them.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        let flags = [
            ("--token-file", &self.token_file),
            ("--tls-ca-file", &self.tls_ca_file),
            ("--tls-cert", &self.tls_cert),
            ("--tls-key", &self.tls_key),
        ];
        for (flag, path) in flags {
            if let Some(p) = path {
                args.push(flag.to_string());
                args.push(p.display().to_string());
            }
        }
        args
    }
}

fn read_limited(path: &Path) -> Result<Vec<u8>> {
    let unreadable =
        |e: std::io::Error| Error::Other(format!("cannot read {}: {e}", path.display()));
    let len = std::fs::metadata(path).map_err(unreadable)?.len();
    if len > MAX_PEM_BYTES {
        return Err(Error::Other(format!(
            "{} is {len} bytes; credentials files are at most {MAX_PEM_BYTES}",
            path.display()
        )));
    }
    std::fs::read(path).map_err(unreadable)
}

/// A member's credentials: an optional shared token and optional TLS material. Cheap to
/// clone; its `Debug` never shows the token or the key.
#[derive(Clone, Default)]
pub struct Security {
    /// `Bearer <token>` as sent, when a token is configured.
    bearer: Option<AsciiMetadataValue>,
    tls: Option<Arc<TlsPem>>,
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security")
            .field("token", &self.bearer.as_ref().map(|_| "<set>"))
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Security {
    /// No token, no TLS: plain TCP, every call accepted.
    pub fn none() -> Security {
        Security::default()
    }

    /// Require (as a server) and send (as a client) this token. It must be 1 to
    /// [`MAX_TOKEN_BYTES`] visible ASCII characters.
    pub fn with_token(mut self, token: &str) -> std::result::Result<Security, Status> {
        if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
            return Err(Status::invalid_argument(format!(
                "a token must be 1 to {MAX_TOKEN_BYTES} bytes long"
            )));
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Status::invalid_argument(
                "a token must be visible ASCII characters without spaces",
            ));
        }
        let value = format!("Bearer {token}")
            .parse::<AsciiMetadataValue>()
            .map_err(|_| Status::invalid_argument("the token is not a valid header value"))?;
        self.bearer = Some(value);
        Ok(self)
    }

    /// Serve and dial with TLS using `pem` (mutual: servers require a client
    /// certificate signed by the same CA).
    pub fn with_tls(mut self, pem: TlsPem) -> Security {
        self.tls = Some(Arc::new(pem));
        self
    }

    /// Whether a token is configured.
    pub fn has_token(&self) -> bool {
        self.bearer.is_some()
    }

    /// The TLS material, when TLS is configured.
    pub fn tls(&self) -> Option<&TlsPem> {
        self.tls.as_deref()
    }

    /// Whether a token or TLS protects the endpoints.
    pub fn is_configured(&self) -> bool {
        self.bearer.is_some() || self.tls.is_some()
    }

    /// URI scheme for dialing a member: `https` with TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// Server side: accept the call only if it carries the configured token (any call
    /// is accepted when none is configured). Compared in constant time.
    pub fn check(&self, metadata: &MetadataMap) -> std::result::Result<(), Status> {
        let Some(expected) = &self.bearer else {
            return Ok(());
        };
        match metadata.get(TOKEN_METADATA) {
            None => Err(Status::unauthenticated(
                "this cluster requires a token and the call carried none",
            )),
            Some(given) if constant_time_eq(given.as_bytes(), expected.as_bytes()) => Ok(()),
            Some(_) => Err(Status::unauthenticated("wrong token for this cluster")),
        }
    }

    /// Interceptor that refuses calls without the token, for wrapping a server.
    pub fn server_check(&self) -> TokenCheck {
        TokenCheck(self.clone())
    }

    /// Interceptor that adds the token to every call, for wrapping a client channel.
    pub fn client_credentials(&self) -> TokenCredentials {
        TokenCredentials(self.bearer.clone())
    }
}

/// Compare without an early exit, so timing does not tell how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Server interceptor: refuses a call that lacks the cluster's token before its handler
/// runs (and before its body is decoded).
#[derive(Clone, Debug)]
pub struct TokenCheck(Security);

impl Interceptor for TokenCheck {
    fn call(&mut self, request: Request<()>) -> std::result::Result<Request<()>, Status> {
        self.0.check(request.metadata())?;
        Ok(request)
    }
}

/// Client interceptor: puts the cluster's token on every call (nothing without one).
#[derive(Clone, Debug, Default)]
pub struct TokenCredentials(Option<AsciiMetadataValue>);

impl Interceptor for TokenCredentials {
    fn call(&mut self, mut request: Request<()>) -> std::result::Result<Request<()>, Status> {
        if let Some(value) = &self.0 {
            request.metadata_mut().insert(TOKEN_METADATA, value.clone());
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call_with(credentials: &Security) -> Request<()> {
        credentials
            .client_credentials()
            .call(Request::new(()))
            .unwrap()
    }

    #[test]
    fn the_token_is_required_and_compared() {
        let server = Security::none().with_token("s3cret-token").unwrap();
        let mut check = server.server_check();
        let right = Security::none().with_token("s3cret-token").unwrap();
        let wrong = Security::none().with_token("s3cret-tokem").unwrap();
        let short = Security::none().with_token("s3cret").unwrap();
        assert!(check.call(call_with(&right)).is_ok());
        for (who, request) in [
            ("none", call_with(&Security::none())),
            ("wrong", call_with(&wrong)),
            ("short", call_with(&short)),
        ] {
            let refused = check.call(request).unwrap_err();
            assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{who}");
        }
        // Without a configured token every call passes.
        assert!(
            Security::none()
                .server_check()
                .call(call_with(&Security::none()))
                .is_ok()
        );
    }

    #[test]
    fn bad_tokens_are_refused_and_never_printed() {
        for bad in [
            "",
            "has space",
            "tab\t",
            "é",
            &"x".repeat(MAX_TOKEN_BYTES + 1),
        ] {
            assert!(Security::none().with_token(bad).is_err(), "{bad:?}");
        }
        let s = Security::none().with_token("do-not-print").unwrap();
        assert!(!format!("{s:?}").contains("do-not-print"));
    }

    #[test]
    fn files_load_or_name_what_is_missing() {
        let dir = std::env::temp_dir().join(format!("tessera-sec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("token"), "  abc123\n").unwrap();
        let files = SecurityFiles {
            token_file: Some(dir.join("token")),
            ..Default::default()
        };
        let s = files.load().unwrap();
        assert!(s.has_token() && s.tls().is_none());
        assert_eq!(files.to_args().len(), 2);
        let partial = SecurityFiles {
            tls_cert: Some(dir.join("cert.pem")),
            ..Default::default()
        };
        assert!(
            partial
                .load()
                .unwrap_err()
                .to_string()
                .contains("all three")
        );
        let missing = SecurityFiles::in_dir(&dir.join("nope"));
        assert!(missing.load().unwrap_err().to_string().contains("nope"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
