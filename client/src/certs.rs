//! Self-signed credentials for a cluster: a CA, one certificate every member presents (as
//! server and as client, for mutual TLS), and a random token. `tessera certs` writes them.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::path::Path;
use tessera_core::security::{SecurityFiles, TLS_SERVER_NAME};
use tessera_core::{Error, Result};

/// Years a generated CA and certificate stay valid.
const VALID_YEARS: i32 = 5;

/// A generated credential set, PEM text and the token.
pub struct Credentials {
    /// The cluster CA certificate.
    pub ca_pem: String,
    /// The members' certificate, signed by the CA.
    pub cert_pem: String,
    /// The members' private key.
    pub key_pem: String,
    /// The shared token (64 hexadecimal digits from the OS's random source).
    pub token: String,
}

fn tls_error(e: rcgen::Error) -> Error {
    Error::other(format!("cannot generate certificates: {e}"))
}

fn this_year() -> i32 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    1970 + (secs / 31_556_952) as i32
}

/// Whether `name` is a DNS host name: dot-separated labels of 1 to 63 letters, digits
/// and inner hyphens, at most 253 characters.
fn is_host_name(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Make a fresh CA and a member certificate naming [`TLS_SERVER_NAME`], `localhost`,
/// 127.0.0.1, ::1 and each of `hosts` (names or IP addresses), valid for both server and
/// client authentication, plus a random token.
pub fn generate(hosts: &[String]) -> Result<Credentials> {
    let year = this_year();
    let validity = |params: &mut CertificateParams| {
        params.not_before = rcgen::date_time_ymd(year - 1, 1, 1);
        params.not_after = rcgen::date_time_ymd(year + VALID_YEARS, 1, 1);
    };

    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(tls_error)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Tessera cluster CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    validity(&mut ca_params);
    let ca_key = KeyPair::generate().map_err(tls_error)?;
    let ca_cert = ca_params.self_signed(&ca_key).map_err(tls_error)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let mut names = vec![
        TLS_SERVER_NAME.to_string(),
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    for host in hosts {
        let host = host.trim();
        if host.is_empty() || names.iter().any(|n| n == host) {
            continue;
        }
        if !is_host_name(host) && host.parse::<std::net::IpAddr>().is_err() {
            return Err(Error::other(format!(
                "{host:?} is not a host name or IP address"
            )));
        }
        names.push(host.to_string());
    }
    let mut params = CertificateParams::new(names)
        .map_err(|e| Error::other(format!("not a host name or IP address: {e}")))?;
    params
        .distinguished_name
        .push(DnType::CommonName, TLS_SERVER_NAME);
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    validity(&mut params);
    let key = KeyPair::generate().map_err(tls_error)?;
    let cert = params.signed_by(&key, &issuer).map_err(tls_error)?;

    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret)
        .map_err(|e| Error::other(format!("no random source for the token: {e}")))?;
    let token = secret.iter().map(|b| format!("{b:02x}")).collect();
    Ok(Credentials {
        ca_pem: ca_cert.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        token,
    })
}

/// Generate credentials (see [`generate`]) and write `ca.pem`, `cert.pem`, `key.pem` and
/// `token` into `dir` (created if needed; the key and token readable by the owner only).
/// Returns the files, as `--token-file` and `--tls-*` name them.
pub fn write_dir(dir: &Path, hosts: &[String]) -> Result<SecurityFiles> {
    let credentials = generate(hosts)?;
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::other(format!("cannot create {}: {e}", dir.display())))?;
    let write = |path: &Path, text: &str, private: bool| -> Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        options.mode(if private { 0o600 } else { 0o644 });
        options
            .open(path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .map_err(|e| Error::other(format!("cannot write {}: {e}", path.display())))
    };
    write(&dir.join("ca.pem"), &credentials.ca_pem, false)?;
    write(&dir.join("cert.pem"), &credentials.cert_pem, false)?;
    write(&dir.join("key.pem"), &credentials.key_pem, true)?;
    write(&dir.join("token"), &credentials.token, true)?;
    Ok(SecurityFiles::in_dir(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_credentials_load_back() {
        let dir = std::env::temp_dir().join(format!("tessera-certs-{}", std::process::id()));
        let files = write_dir(&dir, &["node1.example".into(), "10.0.0.7".into()]).unwrap();
        let security = files.load().unwrap();
        assert!(security.has_token() && security.tls().is_some());
        let token = std::fs::read_to_string(dir.join("token")).unwrap();
        assert_eq!(token.len(), 64);
        assert!(
            std::fs::read_to_string(dir.join("cert.pem"))
                .unwrap()
                .contains("CERTIFICATE")
        );
        std::fs::remove_dir_all(&dir).unwrap();
        for bad in ["not a host!", "-lead.example", "a..b", "under_score"] {
            assert!(generate(&[bad.into()]).is_err(), "{bad}");
        }
        assert!(is_host_name("node-1.cluster.example") && !is_host_name(&"a".repeat(64)));
    }
}
