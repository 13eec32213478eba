//! Untrusted bytes through third-party decoders (Arrow IPC, datafusion-proto): a panic
//! inside one becomes an [`Error::Decode`] instead of tearing down the caller.
//!
//! Tessera checks what it can before handing bytes over (see [`crate::value::ipc`]), but
//! a library may still assert on some input that it should have refused. Decoding owns
//! its input and shares no state, so a caught panic leaves nothing half-updated.

use crate::error::{Error, Result};
use std::cell::Cell;

thread_local! {
    static GUARDED: Cell<usize> = const { Cell::new(0) };
}

/// Whether this thread is inside [`guarded`] (a panic here becomes an error). Panic hooks,
/// such as the fuzz targets', use it to tell a caught decoder panic from a real crash.
pub fn in_guard() -> bool {
    GUARDED.with(|g| g.get() > 0)
}

/// Run `f`, a third-party decoder over untrusted bytes, turning a panic inside it into
/// an [`Error::Decode`] naming `what`. Nothing `f` borrows is used after a panic.
pub fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    GUARDED.with(|g| g.set(g.get() + 1));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(g.get() - 1));
    result.unwrap_or_else(|panic| {
        let why = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        Err(Error::decode(format!("{what} is malformed ({why})")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_in_a_guarded_decoder_is_an_error() {
        let e = guarded::<()>("a test decoder", || panic!("boom")).unwrap_err();
        assert!(
            e.to_string().contains("a test decoder is malformed (boom)"),
            "{e}"
        );
        assert!(!in_guard());
        assert_eq!(guarded("ok", || Ok(3)).unwrap(), 3);
        assert!(guarded("inner", || Ok(in_guard())).unwrap());
    }
}
