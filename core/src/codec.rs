//! The one place that knows the control-plane encoding (bincode 2 over serde).
//! Swap the encoding here and every message, op and token follows.

use crate::error::{Error, Result};
use serde::{Serialize, de::DeserializeOwned};

/// Largest control message accepted, in bytes. A graph of a million tasks encodes
/// to roughly 150 MB; anything larger is refused at decode time.
pub const MAX_MESSAGE_BYTES: usize = 512 * 1024 * 1024;

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_MESSAGE_BYTES>()
}

/// Encode a value.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    bincode::serde::encode_to_vec(value, config()).map_err(|e| Error::other(format!("encode: {e}")))
}

/// Decode a value, refusing trailing bytes, truncation and oversized lengths.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(Error::decode(format!(
            "message of {} bytes exceeds the {MAX_MESSAGE_BYTES}-byte limit",
            bytes.len()
        )));
    }
    let (value, used) = bincode::serde::decode_from_slice(bytes, config())
        .map_err(|e| Error::decode(e.to_string()))?;
    if used != bytes.len() {
        return Err(Error::decode(format!(
            "{} trailing bytes after the message",
            bytes.len() - used
        )));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::Op;
    use crate::wire::WorkerMessage;

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut seed = 0x9e3779b97f4a7c15u64;
        for len in 0..512 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect();
            let _ = decode::<Op>(&bytes);
            let _ = decode::<WorkerMessage>(&bytes);
        }
        // A length prefix claiming a huge vector must not allocate it.
        let huge = [0xfcu8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f];
        assert!(decode::<Vec<u64>>(&huge).is_err());
        assert!(decode::<Op>(&[]).is_err());
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let mut b = encode(&7u32).unwrap();
        b.push(0);
        assert!(decode::<u32>(&b).is_err());
    }
}
