//! How Tessera's gRPC connections are made: TLS on servers and endpoints, the token on
//! every call, keepalives and flow-control windows, in one place so every socket follows it.

use crate::flight::{CONNECTION_WINDOW, FRAME_SIZE, STREAM_WINDOW};
use std::time::Duration;
use tessera_core::security::{Security, TLS_SERVER_NAME, TokenCredentials};
use tessera_core::{Error, Result};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{
    Certificate, Channel, ClientTlsConfig, Endpoint, Identity, Server, ServerTlsConfig,
};

/// A channel whose every call carries the cluster's token.
pub type AuthedChannel = InterceptedService<Channel, TokenCredentials>;

/// How often a control connection (to the scheduler) sends an HTTP/2 ping.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
/// How long a ping may go unanswered before the connection is dropped as dead, so a
/// frozen or cut-off peer is reported instead of waited on forever.
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a TLS handshake may take.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The server side of `security`'s TLS: this member's identity, and a client
/// certificate signed by the cluster CA required from every caller (mutual TLS).
pub fn server_tls(security: &Security) -> Option<ServerTlsConfig> {
    let pem = security.tls()?;
    Some(
        ServerTlsConfig::new()
            .identity(Identity::from_pem(&pem.cert, &pem.key))
            .client_ca_root(Certificate::from_pem(&pem.ca))
            .timeout(TLS_HANDSHAKE_TIMEOUT),
    )
}

/// The client side of `security`'s TLS: trust only the cluster CA, verify the peer as
/// [`TLS_SERVER_NAME`], and present this member's certificate.
pub fn client_tls(security: &Security) -> Option<ClientTlsConfig> {
    let pem = security.tls()?;
    Some(
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&pem.ca))
            .identity(Identity::from_pem(&pem.cert, &pem.key))
            .domain_name(TLS_SERVER_NAME)
            .timeout(TLS_HANDSHAKE_TIMEOUT),
    )
}

/// A server builder with `security`'s TLS (the token is checked per service, see
/// [`Security::server_check`]). Bad TLS material is an error naming the problem.
pub fn secure_server(security: &Security) -> Result<Server> {
    let builder = Server::builder().tcp_nodelay(true);
    match server_tls(security) {
        None => Ok(builder),
        Some(tls) => builder
            .tls_config(tls)
            .map_err(|e| Error::Cluster(format!("bad TLS certificate or key: {e}"))),
    }
}

fn endpoint(address: &str, security: &Security, what: &str) -> Result<Endpoint> {
    let uri = format!("{}://{address}", security.scheme());
    let endpoint = Endpoint::from_shared(uri)
        .map_err(|e| Error::Cluster(format!("bad {what} address {address:?}: {e}")))?
        .tcp_nodelay(true);
    match client_tls(security) {
        None => Ok(endpoint),
        Some(tls) => endpoint
            .tls_config(tls)
            .map_err(|e| Error::Cluster(format!("bad TLS certificate or key: {e}"))),
    }
}

/// Endpoint of the scheduler at `address` (`host:port`): TLS as configured, and HTTP/2
/// keepalive pings so a scheduler that freezes or is cut off is noticed within
/// [`KEEPALIVE_INTERVAL`] + [`KEEPALIVE_TIMEOUT`] instead of after TCP gives up.
pub fn scheduler_endpoint(address: &str, security: &Security) -> Result<Endpoint> {
    Ok(endpoint(address, security, "scheduler")?
        .connect_timeout(Duration::from_secs(10))
        .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
        .keep_alive_timeout(KEEPALIVE_TIMEOUT)
        .keep_alive_while_idle(true))
}

/// Endpoint for bulk chunk transfer to the worker at `address` (`host:port`). HTTP/2
/// keepalive pings run while transfers are open, so a peer that dies or is cut off fails
/// them within [`KEEPALIVE_INTERVAL`] + [`KEEPALIVE_TIMEOUT`] even when no scheduler
/// tells (a put has no stall timeout of its own: the receiver sets its pace).
pub fn data_endpoint(address: &str, security: &Security) -> Result<Endpoint> {
    Ok(endpoint(address, security, "worker")?
        .connect_timeout(Duration::from_secs(5))
        .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
        .keep_alive_timeout(KEEPALIVE_TIMEOUT)
        .keep_alive_while_idle(false)
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .max_frame_size(FRAME_SIZE))
}

/// A server configured for bulk chunk transfer, with `security`'s TLS.
pub fn data_server(security: &Security) -> Result<Server> {
    Ok(secure_server(security)?
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .max_frame_size(FRAME_SIZE))
}

/// Wrap `channel` so every call carries `security`'s token.
pub fn authed(channel: Channel, security: &Security) -> AuthedChannel {
    InterceptedService::new(channel, security.client_credentials())
}
