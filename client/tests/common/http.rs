//! A minimal blocking HTTP/1.0 GET for tests of the dashboard, the JSON API and `/metrics`.
//! Returns the status code and the body; the connection closes after each answer.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// GET `path` from `addr` (`host:port`): `(status, body)`.
pub fn get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect to the HTTP server");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read the answer");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("headers end");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status code");
    (status, body.to_string())
}

/// GET and decode a JSON answer, which must be 200.
pub fn get_json(addr: &str, path: &str) -> serde_json::Value {
    let (status, body) = get(addr, path);
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: bad JSON {e}: {body}"))
}

/// Read the first server-sent event of `path`: `(event name, data)`.
pub fn first_event(addr: &str, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).expect("connect to the HTTP server");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = s.read(&mut chunk).expect("read events");
        assert!(n > 0, "event stream closed early");
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        let Some(start) = text.find("event: ") else {
            continue;
        };
        let rest = &text[start..];
        // An event ends at a blank line; with chunked encoding the data line ends with \n.
        let Some(data_at) = rest.find("\ndata: ") else {
            continue;
        };
        let name = rest["event: ".len()..data_at].trim().to_string();
        let data = &rest[data_at + "\ndata: ".len()..];
        if let Some(end) = data.find('\n') {
            return (name, data[..end].to_string());
        }
    }
}
