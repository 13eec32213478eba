//! The `.npy` header: a strict parser of NumPy's format (magic, version, length, then a
//! Python dict literal with `descr`, `fortran_order` and `shape`) and a writer of it.
//!
//! Written by hand rather than with `ndarray-npy` or `npyz`: both read or write whole
//! arrays through a reader, while a task needs the header alone and then the byte offsets
//! of its own region. Every malformed or hostile header is an error, never a panic.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::kernels::dynarray::{MAX_NDIM, checked_len};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// The magic string every `.npy` file starts with.
const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// Longest header accepted (NumPy itself refuses more than 10,000 bytes by default).
pub const MAX_HEADER_LEN: usize = 1 << 20;

/// What a `.npy` header says: element type, layout and where the data starts.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NpyHeader {
    /// Element type.
    pub dtype: DType,
    /// Whether elements are stored big-endian (converted when read; never written).
    pub big_endian: bool,
    /// Whether the data is in Fortran (column-major) order.
    pub fortran_order: bool,
    /// The array's shape.
    pub shape: Vec<usize>,
    /// Byte offset of the first element.
    pub data_offset: u64,
}

impl NpyHeader {
    /// The header of a little-endian, C-order file holding `shape` elements of `dtype`.
    pub fn c_order(dtype: DType, shape: &[usize]) -> NpyHeader {
        let mut h = NpyHeader {
            dtype,
            big_endian: false,
            fortran_order: false,
            shape: shape.to_vec(),
            data_offset: 0,
        };
        h.data_offset = h.encode().len() as u64;
        h
    }

    /// Bytes of the data section (errs when the shape's size overflows).
    pub fn data_len(&self) -> Result<u64> {
        let n = checked_len(&self.shape)?;
        (n as u64)
            .checked_mul(self.dtype.itemsize() as u64)
            .ok_or_else(|| Error::shape(format!("shape {:?} overflows", self.shape)))
    }

    /// NumPy's `descr` for the header (`<f8`, `|b1`, ...).
    pub fn descr(&self) -> String {
        let code = match self.dtype {
            DType::Bool => return "|b1".into(),
            DType::I32 => "i4",
            DType::I64 => "i8",
            DType::F32 => "f4",
            DType::F64 => "f8",
        };
        format!("{}{code}", if self.big_endian { '>' } else { '<' })
    }

    /// The header bytes (magic through the padded dict), version 1.0 unless the dict
    /// needs version 2.0's longer length field; padded so the data starts 64-byte aligned.
    pub fn encode(&self) -> Vec<u8> {
        let shape = match self.shape.as_slice() {
            [d] => format!("({d},)"),
            dims => format!(
                "({})",
                dims.iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let dict = format!(
            "{{'descr': '{}', 'fortran_order': {}, 'shape': {shape}, }}",
            self.descr(),
            if self.fortran_order { "True" } else { "False" }
        );
        let (version, len_bytes) = if dict.len() + 1 + 10 <= u16::MAX as usize {
            (1u8, 2)
        } else {
            (2u8, 4)
        };
        let prefix = MAGIC.len() + 2 + len_bytes;
        let total = (prefix + dict.len() + 1).div_ceil(64) * 64;
        let header_len = total - prefix;
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&[version, 0]);
        if len_bytes == 2 {
            out.extend_from_slice(&(header_len as u16).to_le_bytes());
        } else {
            out.extend_from_slice(&(header_len as u32).to_le_bytes());
        }
        out.extend_from_slice(dict.as_bytes());
        out.resize(total - 1, b' ');
        out.push(b'\n');
        out
    }

    /// Read and check the header of the file at `path`: the file must be long enough for
    /// the data the header promises. Every problem is an error naming the file.
    pub fn read(path: &Path) -> Result<NpyHeader> {
        let name = path.display();
        let mut file =
            File::open(path).map_err(|e| Error::other(format!("cannot open {name}: {e}")))?;
        let file_len = file
            .metadata()
            .map_err(|e| Error::other(format!("cannot stat {name}: {e}")))?
            .len();
        let mut prefix = Vec::new();
        (&mut file)
            .take(12)
            .read_to_end(&mut prefix)
            .map_err(|e| Error::other(format!("cannot read {name}: {e}")))?;
        let (header_len, skip) = parse_prefix(&prefix).map_err(|m| bad(path, m))?;
        if (skip + header_len) as u64 > file_len {
            return Err(bad(
                path,
                format!("truncated: the header needs {header_len} bytes, the file has {file_len}"),
            ));
        }
        let mut dict = vec![0; header_len];
        file.seek(SeekFrom::Start(skip as u64))
            .and_then(|_| file.read_exact(&mut dict))
            .map_err(|e| Error::other(format!("cannot read the header of {name}: {e}")))?;
        let mut h = parse_dict(&dict).map_err(|m| bad(path, m))?;
        h.data_offset = (skip + header_len) as u64;
        let need = h.data_len().map_err(|e| bad(path, e.to_string()))?;
        if file_len - h.data_offset < need {
            return Err(bad(
                path,
                format!(
                    "truncated: shape {:?} of {} needs {need} data bytes, the file has {}",
                    h.shape,
                    h.dtype,
                    file_len - h.data_offset
                ),
            ));
        }
        Ok(h)
    }

    /// Create (or truncate) the file at `path` with this header and its full length; the
    /// data section is left as a sparse hole for the write tasks to fill.
    pub fn create_file(&self, path: &Path) -> Result<()> {
        let name = path.display();
        let bytes = self.encode();
        if bytes.len() as u64 != self.data_offset || self.fortran_order || self.big_endian {
            return Err(Error::other(format!(
                "{name}: only headers made by NpyHeader::c_order can be written"
            )));
        }
        let total = self
            .data_offset
            .checked_add(self.data_len()?)
            .ok_or_else(|| Error::shape(format!("{name}: shape {:?} overflows", self.shape)))?;
        let mut file =
            File::create(path).map_err(|e| Error::other(format!("cannot create {name}: {e}")))?;
        file.write_all(&bytes)
            .and_then(|_| file.set_len(total))
            .map_err(|e| Error::other(format!("cannot write {name}: {e}")))
    }
}

fn bad(path: &Path, msg: impl std::fmt::Display) -> Error {
    Error::decode(format!("{}: not a valid .npy file: {msg}", path.display()))
}

/// Check magic and version; return the dict's length and where it starts.
fn parse_prefix(p: &[u8]) -> std::result::Result<(usize, usize), String> {
    if p.len() < 10 || &p[..6] != MAGIC {
        return Err("it does not start with the .npy magic \\x93NUMPY".into());
    }
    let (len, skip) = match p[6] {
        1 => (u16::from_le_bytes([p[8], p[9]]) as usize, 10),
        2 | 3 if p.len() >= 12 => (u32::from_le_bytes([p[8], p[9], p[10], p[11]]) as usize, 12),
        2 | 3 => return Err("truncated before the header length".into()),
        v => return Err(format!("unsupported format version {v}.{}", p[7])),
    };
    if len > MAX_HEADER_LEN {
        return Err(format!(
            "header length {len} exceeds the limit of {MAX_HEADER_LEN} bytes"
        ));
    }
    Ok((len, skip))
}

/// A value of the header's dict literal.
#[derive(Debug, PartialEq)]
enum Lit {
    Str(String),
    Bool(bool),
    Tuple(Vec<usize>),
}

/// Parse the dict literal `{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }`.
fn parse_dict(bytes: &[u8]) -> std::result::Result<NpyHeader, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "the header is not UTF-8 text")?;
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    p.expect(b'{')?;
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    loop {
        p.ws();
        if p.eat(b'}') {
            break;
        }
        let key = match p.value()? {
            Lit::Str(k) => k,
            other => return Err(format!("a header key must be a string, got {other:?}")),
        };
        p.expect(b':')?;
        let value = p.value()?;
        let slot = match key.as_str() {
            "descr" => &mut descr,
            "fortran_order" => &mut fortran,
            "shape" => &mut shape,
            other => return Err(format!("unexpected header key {other:?}")),
        };
        if slot.replace(value).is_some() {
            return Err(format!("header key {key:?} appears twice"));
        }
        p.ws();
        if !p.eat(b',') {
            p.expect(b'}')?;
            break;
        }
    }
    if !text[p.i..].trim().is_empty() {
        return Err(format!(
            "unexpected text after the header dict: {:?}",
            &text[p.i..]
        ));
    }
    let descr = match descr {
        Some(Lit::Str(d)) => d,
        None => return Err("the header has no 'descr'".into()),
        Some(other) => {
            return Err(format!(
                "descr {other:?} is not a plain dtype (structured arrays are not supported)"
            ));
        }
    };
    let fortran_order = match fortran {
        Some(Lit::Bool(b)) => b,
        None => return Err("the header has no 'fortran_order'".into()),
        Some(other) => {
            return Err(format!(
                "fortran_order must be True or False, got {other:?}"
            ));
        }
    };
    let shape = match shape {
        Some(Lit::Tuple(s)) => s,
        None => return Err("the header has no 'shape'".into()),
        Some(other) => return Err(format!("shape must be a tuple of integers, got {other:?}")),
    };
    if shape.len() > MAX_NDIM {
        return Err(format!(
            "shape has {} axes, more than the limit of {MAX_NDIM}",
            shape.len()
        ));
    }
    let (dtype, big_endian) = parse_descr(&descr)?;
    Ok(NpyHeader {
        dtype,
        big_endian,
        fortran_order,
        shape,
        data_offset: 0,
    })
}

/// Map a `descr` to a dtype and byte order; anything else is a clear dtype error.
fn parse_descr(descr: &str) -> std::result::Result<(DType, bool), String> {
    let (order, code) = match descr.as_bytes().first() {
        Some(b'<' | b'>' | b'|' | b'=') => (descr.as_bytes()[0], &descr[1..]),
        _ => (b'=', descr),
    };
    let dtype = match code {
        "b1" | "?" => DType::Bool,
        "i4" => DType::I32,
        "i8" => DType::I64,
        "f4" => DType::F32,
        "f8" => DType::F64,
        _ => {
            return Err(format!(
                "unsupported dtype {descr:?}: supported are <f8 <f4 <i8 <i4 |b1 (and big-endian >f8 >f4 >i8 >i4)"
            ));
        }
    };
    let big = match order {
        b'>' => true,
        b'=' => cfg!(target_endian = "big"),
        _ => false,
    };
    Ok((dtype, big && dtype != DType::Bool))
}

/// A cursor over the header text.
struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8) -> std::result::Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!(
                "expected {:?} at byte {} of the header",
                c as char, self.i
            ))
        }
    }

    fn value(&mut self) -> std::result::Result<Lit, String> {
        self.ws();
        match self.s.get(self.i) {
            Some(&q @ (b'\'' | b'"')) => {
                let start = self.i + 1;
                let end = self.s[start..]
                    .iter()
                    .position(|&c| c == q)
                    .ok_or("unterminated string in the header")?;
                self.i = start + end + 1;
                Ok(Lit::Str(
                    String::from_utf8_lossy(&self.s[start..start + end]).into_owned(),
                ))
            }
            Some(b'(') => {
                self.i += 1;
                let mut dims = Vec::new();
                loop {
                    if self.eat(b')') {
                        break;
                    }
                    if dims.len() > MAX_NDIM {
                        return Err(format!("shape has more than {MAX_NDIM} axes"));
                    }
                    dims.push(self.integer()?);
                    if !self.eat(b',') {
                        self.expect(b')')?;
                        break;
                    }
                }
                Ok(Lit::Tuple(dims))
            }
            _ if self.s[self.i..].starts_with(b"True") => {
                self.i += 4;
                Ok(Lit::Bool(true))
            }
            _ if self.s[self.i..].starts_with(b"False") => {
                self.i += 5;
                Ok(Lit::Bool(false))
            }
            _ => Err(format!("unexpected text at byte {} of the header", self.i)),
        }
    }

    fn integer(&mut self) -> std::result::Result<usize, String> {
        self.ws();
        let start = self.i;
        while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
            self.i += 1;
        }
        let digits = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
        if digits.is_empty() {
            return Err(format!(
                "expected a non-negative integer at byte {start} of the header"
            ));
        }
        digits
            .parse::<usize>()
            .map_err(|_| format!("shape dimension {digits} is too large"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_and_align() {
        for shape in [vec![], vec![0], vec![7], vec![3, 4, 5]] {
            for dtype in DType::ALL {
                let h = NpyHeader::c_order(dtype, &shape);
                let bytes = h.encode();
                assert_eq!(bytes.len() % 64, 0);
                let (len, skip) = parse_prefix(&bytes).unwrap();
                let mut back = parse_dict(&bytes[skip..skip + len]).unwrap();
                back.data_offset = (skip + len) as u64;
                assert_eq!(back, h);
            }
        }
    }

    #[test]
    fn numpy_spellings_parse() {
        let h =
            parse_dict(b"{'descr': '>f8', 'fortran_order': True, 'shape': (2, 3), }  \n").unwrap();
        assert_eq!(
            (h.dtype, h.big_endian, h.fortran_order),
            (DType::F64, true, true)
        );
        assert_eq!(h.shape, vec![2, 3]);
        let h =
            parse_dict(b"{\"shape\": (), \"descr\": \"|b1\", \"fortran_order\": False}").unwrap();
        assert_eq!((h.dtype, h.shape.len()), (DType::Bool, 0));
        assert!(
            parse_dict(b"{'descr': '<u2', 'fortran_order': False, 'shape': (2,), }")
                .unwrap_err()
                .contains("unsupported dtype")
        );
        assert!(
            parse_dict(b"{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (2,), }")
                .is_err()
        );
        assert!(parse_dict(b"{'descr': '<f8', 'fortran_order': False, 'shape': (-2,), }").is_err());
        assert!(
            parse_dict(
                b"{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999999,), }"
            )
            .is_err()
        );
        assert!(parse_dict(b"{'descr': '<f8', 'fortran_order': False}").is_err());
        assert!(
            parse_dict(b"{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': ()}")
                .is_err()
        );
        assert!(
            parse_dict(b"{'descr': '<f8', 'fortran_order': False, 'shape': (1,) } junk").is_err()
        );
        assert!(parse_dict(b"{'descr': '<f8").is_err());
        assert!(parse_dict(&[0xff, 0xfe]).is_err());
        assert!(parse_prefix(b"\x93NUMPZ\x01\x00\x10\x00").is_err());
        assert!(parse_prefix(b"\x93NUMPY\x09\x00\x10\x00").is_err());
        assert!(parse_prefix(b"\x93NUMPY\x02\x00\xff\xff\xff\xff").is_err());
        assert!(parse_prefix(b"\x93NUM").is_err());
    }
}
