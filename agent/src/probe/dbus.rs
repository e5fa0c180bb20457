//! A minimal asynchronous D-Bus client: enough to authenticate on a session
//! bus, call methods, own a name, answer calls and read the messages a
//! monitor sees (see `notifications.rs`).
//!
//! It is written here rather than taken from `zbus` or the libdbus-based
//! `dbus` crate: the agent's stripped binary must stay under 7 MB and is at
//! 6.4 MB, which leaves no room for either (the latter also needs the C
//! library on every device). `unsafe` is forbidden in the workspace, so the
//! process's uid comes from `/proc/self`, not from `geteuid()`.
//!
//! Supported: `unix:path=` and `unix:abstract=` addresses; SASL `EXTERNAL`;
//! incoming messages of either byte order (a monitor sees other peers'
//! messages as they were sent), with every D-Bus type read lazily and
//! borrowed from the message; outgoing little-endian messages with bytes,
//! booleans, integers, strings, object paths, string arrays and `a{sv}`
//! dictionaries. Not supported: other transports and mechanisms, and passing
//! file descriptors. Malformed input is an error, never a panic.

#![cfg(target_os = "linux")]

use std::collections::VecDeque;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

/// The specification's limit on a whole message.
pub const MAX_MESSAGE_BYTES: usize = 128 << 20;
/// The specification's limit on one array.
const MAX_ARRAY_BYTES: usize = 64 << 20;
/// The specification's limits on nesting: 32 arrays and 32 structs in a
/// signature, 64 containers (variants included) in a value.
const MAX_SIGNATURE_NESTING: u32 = 32;
const MAX_VALUE_DEPTH: u32 = 64;
/// Bounds the SASL exchange, whose lines are short.
const MAX_AUTH_LINE: u64 = 4096;
/// Authentication and `Hello` are answered at once by a live bus; a socket
/// left by a stuck one must not hold the caller forever.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(25);

const NO_REPLY_EXPECTED: u8 = 0x1;

const BUS_NAME: &str = "org.freedesktop.DBus";
const BUS_PATH: &str = "/org/freedesktop/DBus";
const BUS_INTERFACE: &str = "org.freedesktop.DBus";

/// What went wrong talking to a bus.
#[derive(Debug, thiserror::Error)]
pub enum DbusError {
    #[error("{0}")]
    Address(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the bus refused authentication as uid {uid} (it answered {reply:?})")]
    AuthRejected { uid: u32, reply: String },
    #[error("the bus closed the connection")]
    Disconnected,
    #[error("the bus did not answer {0} within {secs} s", secs = HANDSHAKE_TIMEOUT.as_secs())]
    Timeout(&'static str),
    #[error("malformed D-Bus message: {0}")]
    Malformed(&'static str),
    #[error("a D-Bus message of {0} bytes is larger than the 128 MiB the specification allows")]
    TooLarge(u64),
    #[error("cannot build the D-Bus message: {0}")]
    Marshal(&'static str),
    #[error("{name}: {message}")]
    Remote { name: String, message: String },
    #[error("cannot own the name {0}: another connection owns it")]
    NameTaken(String),
}

/// Read errors that mean the peer went away are reported as such.
fn io_error(error: std::io::Error) -> DbusError {
    use std::io::ErrorKind::{BrokenPipe, ConnectionReset, UnexpectedEof};
    match error.kind() {
        UnexpectedEof | ConnectionReset | BrokenPipe => DbusError::Disconnected,
        _ => DbusError::Io(error),
    }
}

// ---------------------------------------------------------------------------
// Addresses

/// One socket a bus address names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// `unix:path=…`
    Path(PathBuf),
    /// `unix:abstract=…`: a name in Linux's abstract socket namespace.
    Abstract(Vec<u8>),
}

/// The sockets of a D-Bus address (`;`-separated, tried in order). Other
/// transports are skipped; `guid=` and other keys are ignored.
///
/// # Errors
/// When a value is badly escaped or no `unix:path=`/`unix:abstract=` is left.
pub fn parse_address(address: &str) -> Result<Vec<Address>, DbusError> {
    let mut sockets = Vec::new();
    for entry in address.split(';').filter(|entry| !entry.is_empty()) {
        let Some((transport, params)) = entry.split_once(':') else {
            return Err(DbusError::Address(format!(
                "{entry:?} in the D-Bus address {address:?} has no transport (as in unix:path=…)"
            )));
        };
        if transport != "unix" {
            continue;
        }
        for param in params.split(',').filter(|param| !param.is_empty()) {
            let Some((key, value)) = param.split_once('=') else {
                return Err(DbusError::Address(format!(
                    "{param:?} in the D-Bus address {address:?} is not key=value"
                )));
            };
            match key {
                "path" => {
                    use std::os::unix::ffi::OsStringExt;
                    let bytes = unescape(value, address)?;
                    sockets.push(Address::Path(std::ffi::OsString::from_vec(bytes).into()));
                }
                "abstract" => sockets.push(Address::Abstract(unescape(value, address)?)),
                _ => {}
            }
        }
    }
    if sockets.is_empty() {
        return Err(DbusError::Address(format!(
            "the D-Bus address {address:?} names no unix:path= or unix:abstract= socket"
        )));
    }
    Ok(sockets)
}

fn unescape(value: &str, address: &str) -> Result<Vec<u8>, DbusError> {
    let bad = || DbusError::Address(format!("bad %-escape in the D-Bus address {address:?}"));
    let mut bytes = Vec::with_capacity(value.len());
    let mut rest = value.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        if byte == b'%' {
            let hex = tail.get(..2).ok_or_else(bad)?;
            let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
            bytes.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            rest = &tail[2..];
        } else {
            bytes.push(byte);
            rest = tail;
        }
    }
    Ok(bytes)
}

/// `bytes` escaped for a D-Bus address value.
pub fn escape_address_value(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut escaped = String::with_capacity(bytes.len());
    for &byte in bytes {
        if byte.is_ascii_alphanumeric() || b"-_/.\\*".contains(&byte) {
            escaped.push(char::from(byte));
        } else {
            escaped.push('%');
            escaped.push(char::from(HEX[usize::from(byte >> 4)]));
            escaped.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
    }
    escaped
}

async fn open(address: &Address) -> std::io::Result<UnixStream> {
    match address {
        Address::Path(path) => UnixStream::connect(path).await,
        Address::Abstract(name) => {
            use std::os::linux::net::SocketAddrExt;
            let socket = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            // Connecting to a local socket does not block long enough to matter.
            let stream = std::os::unix::net::UnixStream::connect_addr(&socket)?;
            stream.set_nonblocking(true)?;
            UnixStream::from_std(stream)
        }
    }
}

/// The effective uid of this process, which the bus sees on the socket.
///
/// # Errors
/// When `/proc` is not mounted.
pub fn process_uid() -> Result<u32, DbusError> {
    // Fields: real, effective, saved, filesystem.
    if let Ok(status) = std::fs::read_to_string("/proc/self/status")
        && let Some(uid) = status
            .lines()
            .find_map(|line| line.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            .and_then(|uid| uid.parse().ok())
    {
        return Ok(uid);
    }
    use std::os::unix::fs::MetadataExt;
    Ok(std::fs::metadata("/proc/self")?.uid())
}

// ---------------------------------------------------------------------------
// Values in

/// A D-Bus value read from a message, borrowing its strings from it.
/// Arrays, structs and dictionary entries are read lazily as [`Items`].
#[derive(Debug, Clone)]
pub enum Value<'m> {
    Byte(u8),
    Bool(bool),
    I16(i16),
    U16(u16),
    I32(i32),
    U32(u32),
    I64(i64),
    U64(u64),
    F64(f64),
    Str(&'m str),
    ObjectPath(&'m str),
    Signature(&'m str),
    UnixFd(u32),
    Variant(Box<Value<'m>>),
    Array(Items<'m>),
    Struct(Items<'m>),
    DictEntry(Items<'m>),
}

impl<'m> Value<'m> {
    /// The text of a string, object path or signature.
    pub fn as_str(&self) -> Option<&'m str> {
        match self {
            Value::Str(text) | Value::ObjectPath(text) | Value::Signature(text) => Some(text),
            _ => None,
        }
    }

    pub fn as_u32(&self) -> Option<u32> {
        match self {
            Value::U32(value) => Some(*value),
            _ => None,
        }
    }

    /// The items of an array, struct or dictionary entry.
    pub fn into_items(self) -> Option<Items<'m>> {
        match self {
            Value::Array(items) | Value::Struct(items) | Value::DictEntry(items) => Some(items),
            _ => None,
        }
    }

    /// The value inside a variant, or this value.
    pub fn into_inner(self) -> Self {
        match self {
            Value::Variant(inner) => inner.into_inner(),
            other => other,
        }
    }
}

/// The values of a message body, a struct, a dictionary entry or an array,
/// read one by one. After an error the iteration ends.
#[derive(Debug, Clone)]
pub struct Items<'m> {
    cursor: Cursor<'m>,
    /// The remaining types of a sequence, or the element type of an array.
    signature: &'m str,
    array: bool,
    done: bool,
}

impl<'m> Items<'m> {
    fn sequence(cursor: Cursor<'m>, signature: &'m str) -> Self {
        Self {
            cursor,
            signature,
            array: false,
            done: false,
        }
    }

    /// The next value as a string (`s`, `o` or `g`).
    ///
    /// # Errors
    /// When the next value is missing, malformed or of another type.
    pub fn next_str(&mut self) -> Result<&'m str, DbusError> {
        self.next()
            .ok_or(DbusError::Malformed("a value is missing"))??
            .as_str()
            .ok_or(DbusError::Malformed("a value is not a string"))
    }
}

impl<'m> Iterator for Items<'m> {
    type Item = Result<Value<'m>, DbusError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let result = if self.array {
            if self.cursor.pos >= self.cursor.end {
                return None;
            }
            self.cursor.value(self.signature)
        } else if self.signature.is_empty() {
            self.done = true;
            return (self.cursor.pos != self.cursor.end)
                .then_some(Err(DbusError::Malformed("bytes after the last value")));
        } else {
            first_type(self.signature).and_then(|(first, rest)| {
                self.signature = rest;
                self.cursor.value(first)
            })
        };
        self.done = result.is_err();
        Some(result)
    }
}

/// Reads values from `buf[pos..end]`; alignment is relative to `buf[0]`,
/// which is the start of the message or of its (8-aligned) body.
#[derive(Debug, Clone)]
struct Cursor<'m> {
    buf: &'m [u8],
    pos: usize,
    end: usize,
    big_endian: bool,
    depth: u32,
}

impl<'m> Cursor<'m> {
    fn new(buf: &'m [u8], big_endian: bool) -> Self {
        Self {
            buf,
            pos: 0,
            end: buf.len(),
            big_endian,
            depth: 0,
        }
    }

    fn take(&mut self, n: usize) -> Result<&'m [u8], DbusError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.end)
            .ok_or(DbusError::Malformed("a value runs past its end"))?;
        let bytes = self
            .buf
            .get(self.pos..end)
            .ok_or(DbusError::Malformed("a value runs past its end"))?;
        self.pos = end;
        Ok(bytes)
    }

    fn align(&mut self, alignment: usize) -> Result<(), DbusError> {
        let padding = self.pos.next_multiple_of(alignment) - self.pos;
        if self.take(padding)?.iter().any(|&byte| byte != 0) {
            return Err(DbusError::Malformed("non-zero alignment padding"));
        }
        Ok(())
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DbusError> {
        self.align(N)?;
        let mut bytes = [0; N];
        bytes.copy_from_slice(self.take(N)?);
        if self.big_endian {
            bytes.reverse();
        }
        Ok(bytes)
    }

    fn u8(&mut self) -> Result<u8, DbusError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, DbusError> {
        self.array().map(u16::from_le_bytes)
    }

    fn u32(&mut self) -> Result<u32, DbusError> {
        self.array().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Result<u64, DbusError> {
        self.array().map(u64::from_le_bytes)
    }

    fn text(&mut self, len: usize) -> Result<&'m str, DbusError> {
        let bytes = self.take(len)?;
        if self.take(1)? != [0] {
            return Err(DbusError::Malformed("a string lacks its NUL terminator"));
        }
        let text = std::str::from_utf8(bytes)
            .map_err(|_| DbusError::Malformed("a string is not UTF-8"))?;
        if text.contains('\0') {
            return Err(DbusError::Malformed("a string contains NUL"));
        }
        Ok(text)
    }

    fn string(&mut self) -> Result<&'m str, DbusError> {
        let len = self.u32()?;
        self.text(usize::try_from(len).map_err(|_| DbusError::Malformed("absurd string length"))?)
    }

    fn signature(&mut self) -> Result<&'m str, DbusError> {
        let len = self.u8()?;
        let signature = self.text(usize::from(len))?;
        validate_signature(signature)?;
        Ok(signature)
    }

    fn enter(&self) -> Result<u32, DbusError> {
        let depth = self.depth + 1;
        if depth > MAX_VALUE_DEPTH {
            return Err(DbusError::Malformed("values nested too deeply"));
        }
        Ok(depth)
    }

    /// Reads one value of the single complete type `signature`.
    fn value(&mut self, signature: &'m str) -> Result<Value<'m>, DbusError> {
        let code = *signature
            .as_bytes()
            .first()
            .ok_or(DbusError::Malformed("empty type"))?;
        Ok(match code {
            b'y' => Value::Byte(self.u8()?),
            b'b' => match self.u32()? {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                _ => return Err(DbusError::Malformed("a boolean is neither 0 nor 1")),
            },
            b'n' => Value::I16(self.u16()?.cast_signed()),
            b'q' => Value::U16(self.u16()?),
            b'i' => Value::I32(self.u32()?.cast_signed()),
            b'u' => Value::U32(self.u32()?),
            b'h' => Value::UnixFd(self.u32()?),
            b'x' => Value::I64(self.u64()?.cast_signed()),
            b't' => Value::U64(self.u64()?),
            b'd' => Value::F64(f64::from_bits(self.u64()?)),
            b's' => Value::Str(self.string()?),
            b'o' => {
                let path = self.string()?;
                if !is_object_path(path) {
                    return Err(DbusError::Malformed("an object path is not valid"));
                }
                Value::ObjectPath(path)
            }
            b'g' => Value::Signature(self.signature()?),
            b'v' => {
                let inner = self.signature()?;
                if !first_type(inner)?.1.is_empty() {
                    return Err(DbusError::Malformed("a variant holds more than one type"));
                }
                let outer = self.depth;
                self.depth = self.enter()?;
                let value = self.value(inner);
                self.depth = outer;
                Value::Variant(Box::new(value?))
            }
            b'a' => {
                let len = usize::try_from(self.u32()?)
                    .ok()
                    .filter(|&len| len <= MAX_ARRAY_BYTES)
                    .ok_or(DbusError::Malformed("an array is longer than 64 MiB"))?;
                let element = &signature[1..];
                // The padding to the first element is there even when empty.
                self.align(alignment(element))?;
                let start = self.pos;
                self.take(len)?;
                Value::Array(Items {
                    cursor: Cursor {
                        buf: self.buf,
                        pos: start,
                        end: self.pos,
                        big_endian: self.big_endian,
                        depth: self.enter()?,
                    },
                    signature: element,
                    array: true,
                    done: false,
                })
            }
            b'(' | b'{' => {
                self.align(8)?;
                let fields = signature
                    .get(1..signature.len() - 1)
                    .ok_or(DbusError::Malformed("bad struct type"))?;
                let start = self.pos;
                let depth = self.enter()?;
                // The struct's end is only known by reading through it.
                let outer = self.depth;
                self.depth = depth;
                let skipped = self.skip_sequence(fields);
                self.depth = outer;
                skipped?;
                let cursor = Cursor {
                    buf: self.buf,
                    pos: start,
                    end: self.pos,
                    big_endian: self.big_endian,
                    depth,
                };
                let items = Items::sequence(cursor, fields);
                if code == b'(' {
                    Value::Struct(items)
                } else {
                    Value::DictEntry(items)
                }
            }
            _ => return Err(DbusError::Malformed("unknown type code")),
        })
    }

    fn skip_sequence(&mut self, mut signature: &'m str) -> Result<(), DbusError> {
        while !signature.is_empty() {
            let (first, rest) = first_type(signature)?;
            self.value(first)?;
            signature = rest;
        }
        Ok(())
    }
}

fn alignment(signature: &str) -> usize {
    match signature.as_bytes().first() {
        Some(b'n' | b'q') => 2,
        Some(b'b' | b'i' | b'u' | b'h' | b's' | b'o' | b'a') => 4,
        Some(b'x' | b't' | b'd' | b'(' | b'{') => 8,
        _ => 1,
    }
}

fn is_basic(code: u8) -> bool {
    b"ybnqiuxtdsogh".contains(&code)
}

/// Splits `signature` into its first complete type and the rest.
fn first_type(signature: &str) -> Result<(&str, &str), DbusError> {
    let end = type_end(signature.as_bytes(), 0, 0, 0)?;
    // Type codes are ASCII, so `end` is a character boundary.
    signature
        .split_at_checked(end)
        .ok_or(DbusError::Malformed("invalid signature"))
}

fn type_end(signature: &[u8], at: usize, arrays: u32, structs: u32) -> Result<usize, DbusError> {
    let code = *signature
        .get(at)
        .ok_or(DbusError::Malformed("incomplete signature"))?;
    match code {
        b'v' => Ok(at + 1),
        code if is_basic(code) => Ok(at + 1),
        b'a' => {
            if arrays >= MAX_SIGNATURE_NESTING {
                return Err(DbusError::Malformed("arrays nested too deeply"));
            }
            if signature.get(at + 1) != Some(&b'{') {
                return type_end(signature, at + 1, arrays + 1, structs);
            }
            if structs >= MAX_SIGNATURE_NESTING {
                return Err(DbusError::Malformed("structs nested too deeply"));
            }
            if !signature.get(at + 2).is_some_and(|&key| is_basic(key)) {
                return Err(DbusError::Malformed(
                    "a dictionary key is not of a basic type",
                ));
            }
            let end = type_end(signature, at + 3, arrays + 1, structs + 1)?;
            if signature.get(end) != Some(&b'}') {
                return Err(DbusError::Malformed(
                    "a dictionary entry is not a key and a value",
                ));
            }
            Ok(end + 1)
        }
        b'(' => {
            if structs >= MAX_SIGNATURE_NESTING {
                return Err(DbusError::Malformed("structs nested too deeply"));
            }
            let mut end = at + 1;
            if signature.get(end) == Some(&b')') {
                return Err(DbusError::Malformed("an empty struct"));
            }
            while signature.get(end) != Some(&b')') {
                end = type_end(signature, end, arrays, structs + 1)?;
            }
            Ok(end + 1)
        }
        _ => Err(DbusError::Malformed("invalid type in signature")),
    }
}

fn validate_signature(signature: &str) -> Result<(), DbusError> {
    if signature.len() > 255 {
        return Err(DbusError::Malformed("a signature is longer than 255 bytes"));
    }
    let mut rest = signature;
    while !rest.is_empty() {
        rest = first_type(rest)?.1;
    }
    Ok(())
}

fn is_object_path(path: &str) -> bool {
    path == "/"
        || path.strip_prefix('/').is_some_and(|elements| {
            elements.split('/').all(|element| {
                !element.is_empty()
                    && element
                        .bytes()
                        .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
            })
        })
}

// ---------------------------------------------------------------------------
// Messages

/// The kind of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    MethodCall,
    MethodReturn,
    Error,
    Signal,
    /// A later kind, to be ignored.
    Unknown(u8),
}

impl MessageType {
    fn code(self) -> u8 {
        match self {
            MessageType::MethodCall => 1,
            MessageType::MethodReturn => 2,
            MessageType::Error => 3,
            MessageType::Signal => 4,
            MessageType::Unknown(code) => code,
        }
    }
}

/// A message received: its header fields, and its body read on demand.
pub struct Message {
    pub kind: MessageType,
    pub flags: u8,
    pub serial: u32,
    pub path: Option<String>,
    pub interface: Option<String>,
    pub member: Option<String>,
    pub error_name: Option<String>,
    pub reply_serial: Option<u32>,
    pub destination: Option<String>,
    pub sender: Option<String>,
    /// The body's signature (empty for no body).
    pub signature: String,
    big_endian: bool,
    bytes: Vec<u8>,
    body_start: usize,
}

/// Bodies may carry what a person wrote (a notification's text): the debug
/// form shows only their size.
impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("kind", &self.kind)
            .field("serial", &self.serial)
            .field("path", &self.path)
            .field("interface", &self.interface)
            .field("member", &self.member)
            .field("error_name", &self.error_name)
            .field("reply_serial", &self.reply_serial)
            .field("destination", &self.destination)
            .field("sender", &self.sender)
            .field("signature", &self.signature)
            .field("body_bytes", &(self.bytes.len() - self.body_start))
            .finish_non_exhaustive()
    }
}

/// The length of the message whose fixed 16-byte start is `start`.
fn message_length(start: &[u8]) -> Result<usize, DbusError> {
    let start: &[u8; 16] = start
        .get(..16)
        .and_then(|start| start.try_into().ok())
        .ok_or(DbusError::Malformed("truncated header"))?;
    let big_endian = match start[0] {
        b'l' => false,
        b'B' => true,
        _ => return Err(DbusError::Malformed("unknown byte order")),
    };
    let word = |at: usize| {
        let bytes = [start[at], start[at + 1], start[at + 2], start[at + 3]];
        u64::from(if big_endian {
            u32::from_be_bytes(bytes)
        } else {
            u32::from_le_bytes(bytes)
        })
    };
    let (body, fields) = (word(4), word(12));
    let total = 16 + fields.next_multiple_of(8) + body;
    if total > MAX_MESSAGE_BYTES as u64 {
        return Err(DbusError::TooLarge(total));
    }
    usize::try_from(total).map_err(|_| DbusError::TooLarge(total))
}

impl Message {
    /// Parses one whole message.
    ///
    /// # Errors
    /// When it is truncated, malformed or larger than the specification
    /// allows.
    pub fn parse(bytes: Vec<u8>) -> Result<Self, DbusError> {
        let total = message_length(&bytes)?;
        if bytes.len() != total {
            return Err(DbusError::Malformed(
                "the message's length differs from its header's",
            ));
        }
        let big_endian = bytes[0] == b'B';
        if bytes[3] != 1 {
            return Err(DbusError::Malformed("unsupported protocol version"));
        }
        let kind = match bytes[1] {
            0 => return Err(DbusError::Malformed("invalid message type 0")),
            1 => MessageType::MethodCall,
            2 => MessageType::MethodReturn,
            3 => MessageType::Error,
            4 => MessageType::Signal,
            code => MessageType::Unknown(code),
        };
        let mut header = Cursor::new(&bytes, big_endian);
        header.pos = 4;
        let body_len = header.u32()?;
        let serial = header.u32()?;
        if serial == 0 {
            return Err(DbusError::Malformed("serial 0"));
        }
        let fields_len = usize::try_from(header.u32()?)
            .ok()
            .filter(|&len| len <= MAX_ARRAY_BYTES)
            .ok_or(DbusError::Malformed("header fields longer than 64 MiB"))?;
        let mut message = Message {
            kind,
            flags: bytes[2],
            serial,
            path: None,
            interface: None,
            member: None,
            error_name: None,
            reply_serial: None,
            destination: None,
            sender: None,
            signature: String::new(),
            big_endian,
            bytes: Vec::new(),
            body_start: 0,
        };
        header.end = 16 + fields_len;
        while header.pos < header.end {
            header.align(8)?;
            let code = header.u8()?;
            let value = header.value("v")?.into_inner();
            let owned = |value: &Value<'_>| value.as_str().map(str::to_owned);
            match (code, &value) {
                (1, Value::ObjectPath(_)) => message.path = owned(&value),
                (2, Value::Str(_)) => message.interface = owned(&value),
                (3, Value::Str(_)) => message.member = owned(&value),
                (4, Value::Str(_)) => message.error_name = owned(&value),
                (5, Value::U32(serial)) => message.reply_serial = Some(*serial),
                (6, Value::Str(_)) => message.destination = owned(&value),
                (7, Value::Str(_)) => message.sender = owned(&value),
                (8, Value::Signature(signature)) => message.signature = (*signature).to_owned(),
                (9, Value::U32(_)) => {}
                (1..=9, _) => return Err(DbusError::Malformed("a header field of the wrong type")),
                // Later fields must be ignored.
                _ => {}
            }
        }
        header.end = total;
        header.align(8)?;
        let body_start = header.pos;
        if total - body_start != body_len as usize {
            return Err(DbusError::Malformed("the body's length is wrong"));
        }
        if message.signature.is_empty() && body_len != 0 {
            return Err(DbusError::Malformed("a body without a signature"));
        }
        let required: &[bool] = match kind {
            MessageType::MethodCall => &[message.path.is_some(), message.member.is_some()],
            MessageType::MethodReturn => &[message.reply_serial.is_some()],
            MessageType::Error => &[message.error_name.is_some(), message.reply_serial.is_some()],
            MessageType::Signal => &[
                message.path.is_some(),
                message.interface.is_some(),
                message.member.is_some(),
            ],
            MessageType::Unknown(_) => &[],
        };
        if required.contains(&false) {
            return Err(DbusError::Malformed("a required header field is missing"));
        }
        message.bytes = bytes;
        message.body_start = body_start;
        Ok(message)
    }

    /// The body's values, in order.
    pub fn body(&self) -> Items<'_> {
        let body = self.bytes.get(self.body_start..).unwrap_or_default();
        Items::sequence(Cursor::new(body, self.big_endian), &self.signature)
    }

    /// A method call to `member` of `interface`.
    pub fn is_call_to(&self, interface: &str, member: &str) -> bool {
        self.kind == MessageType::MethodCall
            && self.interface.as_deref() == Some(interface)
            && self.member.as_deref() == Some(member)
    }

    fn remote_error(&self) -> DbusError {
        DbusError::Remote {
            name: self.error_name.clone().unwrap_or_default(),
            message: self
                .body()
                .next_str()
                .map(str::to_owned)
                .unwrap_or_default(),
        }
    }
}

// ---------------------------------------------------------------------------
// Values out

/// A value to send.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arg<'a> {
    Byte(u8),
    Bool(bool),
    I32(i32),
    U32(u32),
    I64(i64),
    Str(&'a str),
    ObjectPath(&'a str),
    /// `as`
    StrArray(&'a [&'a str]),
    /// `a{sv}`, as the hints of a notification.
    Dict(&'a [(&'a str, Arg<'a>)]),
}

impl Arg<'_> {
    fn push_signature(&self, signature: &mut String) {
        signature.push_str(match self {
            Arg::Byte(_) => "y",
            Arg::Bool(_) => "b",
            Arg::I32(_) => "i",
            Arg::U32(_) => "u",
            Arg::I64(_) => "x",
            Arg::Str(_) => "s",
            Arg::ObjectPath(_) => "o",
            Arg::StrArray(_) => "as",
            Arg::Dict(_) => "a{sv}",
        });
    }
}

/// Writes values in either byte order (tests check both).
struct Writer {
    buf: Vec<u8>,
    big_endian: bool,
}

impl Writer {
    fn pad(&mut self, alignment: usize) {
        self.buf
            .resize(self.buf.len().next_multiple_of(alignment), 0);
    }

    fn u32(&mut self, value: u32) {
        self.pad(4);
        self.buf.extend(if self.big_endian {
            value.to_be_bytes()
        } else {
            value.to_le_bytes()
        });
    }

    fn u64(&mut self, value: u64) {
        self.pad(8);
        self.buf.extend(if self.big_endian {
            value.to_be_bytes()
        } else {
            value.to_le_bytes()
        });
    }

    fn string(&mut self, text: &str) -> Result<(), DbusError> {
        if text.contains('\0') {
            return Err(DbusError::Marshal("a string contains NUL"));
        }
        let len =
            u32::try_from(text.len()).map_err(|_| DbusError::Marshal("a string is too long"))?;
        self.u32(len);
        self.buf.extend_from_slice(text.as_bytes());
        self.buf.push(0);
        Ok(())
    }

    fn signature(&mut self, signature: &str) -> Result<(), DbusError> {
        let len = u8::try_from(signature.len())
            .map_err(|_| DbusError::Marshal("a signature is too long"))?;
        self.buf.push(len);
        self.buf.extend_from_slice(signature.as_bytes());
        self.buf.push(0);
        Ok(())
    }

    /// Writes an array whose elements are aligned to `alignment`.
    fn array(
        &mut self,
        alignment: usize,
        elements: impl FnOnce(&mut Self) -> Result<(), DbusError>,
    ) -> Result<(), DbusError> {
        self.u32(0);
        let len_at = self.buf.len() - 4;
        self.pad(alignment);
        let start = self.buf.len();
        elements(self)?;
        let len = u32::try_from(self.buf.len() - start)
            .ok()
            .filter(|&len| len as usize <= MAX_ARRAY_BYTES)
            .ok_or(DbusError::Marshal("an array is longer than 64 MiB"))?;
        let len = if self.big_endian {
            len.to_be_bytes()
        } else {
            len.to_le_bytes()
        };
        self.buf[len_at..len_at + 4].copy_from_slice(&len);
        Ok(())
    }

    fn arg(&mut self, arg: &Arg<'_>) -> Result<(), DbusError> {
        match *arg {
            Arg::Byte(byte) => self.buf.push(byte),
            Arg::Bool(value) => self.u32(u32::from(value)),
            Arg::I32(value) => self.u32(value.cast_unsigned()),
            Arg::U32(value) => self.u32(value),
            Arg::I64(value) => self.u64(value.cast_unsigned()),
            Arg::Str(text) => self.string(text)?,
            Arg::ObjectPath(path) => {
                if !is_object_path(path) {
                    return Err(DbusError::Marshal("an object path is not valid"));
                }
                self.string(path)?;
            }
            Arg::StrArray(texts) => {
                self.array(4, |w| texts.iter().try_for_each(|text| w.string(text)))?;
            }
            Arg::Dict(entries) => self.array(8, |w| {
                entries.iter().try_for_each(|(key, value)| {
                    w.pad(8);
                    w.string(key)?;
                    let mut signature = String::new();
                    value.push_signature(&mut signature);
                    w.signature(&signature)?;
                    w.arg(value)
                })
            })?,
        }
        Ok(())
    }
}

/// The header of a message to send.
#[derive(Debug, Clone, Copy)]
struct Header<'a> {
    kind: MessageType,
    flags: u8,
    serial: u32,
    path: Option<&'a str>,
    interface: Option<&'a str>,
    member: Option<&'a str>,
    error_name: Option<&'a str>,
    reply_serial: Option<u32>,
    destination: Option<&'a str>,
    sender: Option<&'a str>,
}

impl Header<'_> {
    fn new(kind: MessageType, serial: u32) -> Self {
        Self {
            kind,
            flags: 0,
            serial,
            path: None,
            interface: None,
            member: None,
            error_name: None,
            reply_serial: None,
            destination: None,
            sender: None,
        }
    }
}

/// One whole message.
fn marshal(header: &Header<'_>, args: &[Arg<'_>], big_endian: bool) -> Result<Vec<u8>, DbusError> {
    let mut body = Writer {
        buf: Vec::new(),
        big_endian,
    };
    let mut signature = String::new();
    for arg in args {
        arg.push_signature(&mut signature);
        body.arg(arg)?;
    }
    let body_len = u32::try_from(body.buf.len()).map_err(|_| DbusError::TooLarge(u64::MAX))?;
    let mut w = Writer {
        buf: vec![
            if big_endian { b'B' } else { b'l' },
            header.kind.code(),
            header.flags,
            1,
        ],
        big_endian,
    };
    w.u32(body_len);
    w.u32(header.serial);
    let strings = [
        (1, "o", header.path),
        (2, "s", header.interface),
        (3, "s", header.member),
        (4, "s", header.error_name),
        (6, "s", header.destination),
        (7, "s", header.sender),
    ];
    if header.path.is_some_and(|path| !is_object_path(path)) {
        return Err(DbusError::Marshal("an object path is not valid"));
    }
    w.array(8, |w| {
        for (code, field_signature, value) in strings {
            if let Some(value) = value {
                w.pad(8);
                w.buf.push(code);
                w.signature(field_signature)?;
                w.string(value)?;
            }
        }
        if let Some(serial) = header.reply_serial {
            w.pad(8);
            w.buf.push(5);
            w.signature("u")?;
            w.u32(serial);
        }
        if !signature.is_empty() {
            w.pad(8);
            w.buf.push(8);
            w.signature("g")?;
            w.signature(&signature)?;
        }
        Ok(())
    })?;
    w.pad(8);
    w.buf.extend_from_slice(&body.buf);
    if w.buf.len() > MAX_MESSAGE_BYTES {
        return Err(DbusError::TooLarge(w.buf.len() as u64));
    }
    Ok(w.buf)
}

// ---------------------------------------------------------------------------
// Connections

/// An authenticated connection to a bus. Its methods are not cancel-safe:
/// a connection whose call or read was cancelled must be dropped.
pub struct Connection {
    stream: BufReader<UnixStream>,
    last_serial: u32,
    unique_name: String,
    /// Messages that arrived while a call waited for its reply, at most
    /// [`MAX_QUEUED`] (the oldest dropped beyond, and counted).
    queued: VecDeque<Message>,
    dropped: u64,
}

/// Messages kept while a call waits for its reply.
const MAX_QUEUED: usize = 4096;

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("unique_name", &self.unique_name)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Connects to the first reachable socket of `address`, authenticates
    /// as this process's uid and says `Hello`.
    ///
    /// # Errors
    /// When no socket can be reached, or the bus refuses or closes the
    /// connection.
    pub async fn connect(address: &str) -> Result<Self, DbusError> {
        let mut last_error = None;
        for socket in parse_address(address)? {
            match open(&socket).await {
                Ok(stream) => {
                    return tokio::time::timeout(HANDSHAKE_TIMEOUT, Self::handshake(stream))
                        .await
                        .map_err(|_| DbusError::Timeout("authentication and Hello"))?;
                }
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.map_or_else(|| DbusError::Address(address.to_owned()), DbusError::Io))
    }

    async fn handshake(stream: UnixStream) -> Result<Self, DbusError> {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let uid = process_uid()?;
        // EXTERNAL's identity is the uid in decimal, hex-encoded.
        let mut auth = String::from("\0AUTH EXTERNAL ");
        for digit in uid.to_string().bytes() {
            auth.push(char::from(HEX[usize::from(digit >> 4)]));
            auth.push(char::from(HEX[usize::from(digit & 0xf)]));
        }
        auth.push_str("\r\n");
        let mut stream = BufReader::new(stream);
        stream
            .get_mut()
            .write_all(auth.as_bytes())
            .await
            .map_err(io_error)?;
        let mut line = Vec::new();
        (&mut stream)
            .take(MAX_AUTH_LINE)
            .read_until(b'\n', &mut line)
            .await
            .map_err(io_error)?;
        if line.is_empty() {
            return Err(DbusError::Disconnected);
        }
        if !line.starts_with(b"OK ") || !line.ends_with(b"\r\n") {
            let reply = String::from_utf8_lossy(&line).trim_end().to_owned();
            return Err(DbusError::AuthRejected { uid, reply });
        }
        stream
            .get_mut()
            .write_all(b"BEGIN\r\n")
            .await
            .map_err(io_error)?;
        let mut connection = Self {
            stream,
            last_serial: 0,
            unique_name: String::new(),
            queued: VecDeque::new(),
            dropped: 0,
        };
        let reply = connection
            .call(BUS_NAME, BUS_PATH, BUS_INTERFACE, "Hello", &[])
            .await?;
        connection.unique_name = reply.body().next_str()?.to_owned();
        Ok(connection)
    }

    /// The name the bus gave this connection (`:1.42`).
    pub fn unique_name(&self) -> &str {
        &self.unique_name
    }

    fn next_serial(&mut self) -> u32 {
        self.last_serial = self.last_serial.checked_add(1).unwrap_or(1);
        self.last_serial
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), DbusError> {
        self.stream
            .get_mut()
            .write_all(bytes)
            .await
            .map_err(io_error)
    }

    /// Calls a method and waits for its reply; messages arriving meanwhile
    /// are kept for [`Connection::next_message`].
    ///
    /// # Errors
    /// The error the callee answered ([`DbusError::Remote`]), or a failure of
    /// the connection.
    pub async fn call(
        &mut self,
        destination: &str,
        path: &str,
        interface: &str,
        member: &str,
        args: &[Arg<'_>],
    ) -> Result<Message, DbusError> {
        let serial = self.next_serial();
        let header = Header {
            path: Some(path),
            interface: Some(interface),
            member: Some(member),
            destination: Some(destination),
            ..Header::new(MessageType::MethodCall, serial)
        };
        self.send(&marshal(&header, args, false)?).await?;
        loop {
            let message = self.read_message().await?;
            if message.reply_serial == Some(serial) {
                match message.kind {
                    MessageType::MethodReturn => return Ok(message),
                    MessageType::Error => return Err(message.remote_error()),
                    _ => {}
                }
            }
            // Bounded: beyond it, the oldest message waiting goes (a bus
            // flooding a monitor while a call waits).
            if self.queued.len() >= MAX_QUEUED {
                self.queued.pop_front();
                self.dropped += 1;
                if self.dropped.is_power_of_two() {
                    tracing::warn!(
                        dropped = self.dropped,
                        "D-Bus messages dropped while a call waited for its reply"
                    );
                }
            }
            self.queued.push_back(message);
        }
    }

    /// Becomes the primary owner of `name`.
    ///
    /// # Errors
    /// [`DbusError::NameTaken`] when another connection owns it.
    pub async fn request_name(&mut self, name: &str) -> Result<(), DbusError> {
        const DO_NOT_QUEUE: u32 = 4;
        const PRIMARY_OWNER: u32 = 1;
        const ALREADY_OWNER: u32 = 4;
        let reply = self
            .call(
                BUS_NAME,
                BUS_PATH,
                BUS_INTERFACE,
                "RequestName",
                &[Arg::Str(name), Arg::U32(DO_NOT_QUEUE)],
            )
            .await?;
        match reply
            .body()
            .next()
            .and_then(Result::ok)
            .and_then(|v| v.as_u32())
        {
            Some(PRIMARY_OWNER | ALREADY_OWNER) => Ok(()),
            Some(_) => Err(DbusError::NameTaken(name.to_owned())),
            None => Err(DbusError::Malformed("RequestName's reply is not a u32")),
        }
    }

    /// Asks the bus to send this connection the messages matching `rule`.
    ///
    /// # Errors
    /// When the bus refuses the rule.
    pub async fn add_match(&mut self, rule: &str) -> Result<(), DbusError> {
        self.call(
            BUS_NAME,
            BUS_PATH,
            BUS_INTERFACE,
            "AddMatch",
            &[Arg::Str(rule)],
        )
        .await
        .map(drop)
    }

    /// Turns this connection into a monitor of every message matching one of
    /// `rules` (all messages when empty). A monitor only receives: it can no
    /// longer call methods.
    ///
    /// # Errors
    /// When the bus refuses (before dbus-daemon 1.10, or for a user who
    /// neither owns the bus nor is root).
    pub async fn become_monitor(&mut self, rules: &[&str]) -> Result<(), DbusError> {
        self.call(
            BUS_NAME,
            BUS_PATH,
            "org.freedesktop.DBus.Monitoring",
            "BecomeMonitor",
            &[Arg::StrArray(rules), Arg::U32(0)],
        )
        .await
        .map(drop)
    }

    /// The next message addressed to (or monitored by) this connection.
    ///
    /// # Errors
    /// [`DbusError::Disconnected`] when the bus closed the connection, or
    /// another failure.
    pub async fn next_message(&mut self) -> Result<Message, DbusError> {
        match self.queued.pop_front() {
            Some(message) => Ok(message),
            None => self.read_message().await,
        }
    }

    /// Answers the method call `to` with `args` (nothing when the caller
    /// asked for no reply).
    ///
    /// # Errors
    /// When the connection fails.
    pub async fn reply(&mut self, to: &Message, args: &[Arg<'_>]) -> Result<(), DbusError> {
        if to.flags & NO_REPLY_EXPECTED != 0 {
            return Ok(());
        }
        let header = Header {
            reply_serial: Some(to.serial),
            destination: to.sender.as_deref(),
            ..Header::new(MessageType::MethodReturn, self.next_serial())
        };
        self.send(&marshal(&header, args, false)?).await
    }

    async fn read_message(&mut self) -> Result<Message, DbusError> {
        let mut start = [0; 16];
        self.stream.read_exact(&mut start).await.map_err(io_error)?;
        let total = message_length(&start)?;
        // Grows as bytes arrive rather than trusting the announced length.
        let mut bytes = Vec::with_capacity(total.min(64 << 10));
        bytes.extend_from_slice(&start);
        (&mut self.stream)
            .take((total - start.len()) as u64)
            .read_to_end(&mut bytes)
            .await
            .map_err(io_error)?;
        if bytes.len() != total {
            return Err(DbusError::Disconnected);
        }
        Message::parse(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call_header(serial: u32) -> Header<'static> {
        Header {
            path: Some("/org/freedesktop/Notifications"),
            interface: Some("org.freedesktop.Notifications"),
            member: Some("Notify"),
            destination: Some("org.freedesktop.Notifications"),
            sender: Some(":1.7"),
            ..Header::new(MessageType::MethodCall, serial)
        }
    }

    const HINTS: [(&str, Arg<'static>); 3] = [
        ("desktop-entry", Arg::Str("org.gnome.Evolution")),
        ("urgency", Arg::Byte(1)),
        ("transient", Arg::Bool(true)),
    ];

    fn notify_args() -> Vec<Arg<'static>> {
        vec![
            Arg::Str("Slack"),
            Arg::U32(0),
            Arg::Str("dialog-information"),
            Arg::Str("Summary text"),
            Arg::Str("Body text"),
            Arg::StrArray(&["default", "Open"]),
            Arg::Dict(&HINTS),
            Arg::I32(-1),
        ]
    }

    fn strings(items: Items<'_>) -> Vec<&str> {
        items
            .map(|value| value.unwrap().as_str().unwrap())
            .collect()
    }

    #[test]
    fn a_notify_call_round_trips_in_both_byte_orders() {
        for big_endian in [false, true] {
            let bytes = marshal(&call_header(7), &notify_args(), big_endian).unwrap();
            let message = Message::parse(bytes).unwrap();
            assert_eq!(message.kind, MessageType::MethodCall);
            assert_eq!(message.serial, 7);
            assert!(message.is_call_to("org.freedesktop.Notifications", "Notify"));
            assert_eq!(
                message.path.as_deref(),
                Some("/org/freedesktop/Notifications")
            );
            assert_eq!(
                message.destination.as_deref(),
                Some("org.freedesktop.Notifications")
            );
            assert_eq!(message.sender.as_deref(), Some(":1.7"));
            assert_eq!(message.signature, "susssasa{sv}i");

            let mut body = message.body();
            assert_eq!(body.next_str().unwrap(), "Slack");
            assert_eq!(body.next().unwrap().unwrap().as_u32(), Some(0));
            assert_eq!(body.next_str().unwrap(), "dialog-information");
            assert_eq!(body.next_str().unwrap(), "Summary text");
            assert_eq!(body.next_str().unwrap(), "Body text");
            let actions = body.next().unwrap().unwrap().into_items().unwrap();
            assert_eq!(strings(actions), ["default", "Open"]);
            let hints = body.next().unwrap().unwrap().into_items().unwrap();
            let mut seen = Vec::new();
            for entry in hints {
                let mut entry = entry.unwrap().into_items().unwrap();
                let key = entry.next_str().unwrap();
                let value = entry.next().unwrap().unwrap().into_inner();
                seen.push(format!("{key}={value:?}"));
                assert!(entry.next().is_none());
            }
            assert_eq!(
                seen,
                [
                    "desktop-entry=Str(\"org.gnome.Evolution\")",
                    "urgency=Byte(1)",
                    "transient=Bool(true)"
                ]
            );
            assert!(matches!(body.next(), Some(Ok(Value::I32(-1)))));
            assert!(body.next().is_none());
        }
    }

    #[test]
    fn replies_and_errors_carry_their_reply_serial() {
        let reply = Header {
            reply_serial: Some(7),
            destination: Some(":1.7"),
            ..Header::new(MessageType::MethodReturn, 3)
        };
        let message = Message::parse(marshal(&reply, &[Arg::U32(42)], false).unwrap()).unwrap();
        assert_eq!(message.kind, MessageType::MethodReturn);
        assert_eq!(message.reply_serial, Some(7));
        assert_eq!(message.body().next().unwrap().unwrap().as_u32(), Some(42));

        let error = Header {
            reply_serial: Some(8),
            error_name: Some("org.freedesktop.DBus.Error.AccessDenied"),
            ..Header::new(MessageType::Error, 4)
        };
        let message =
            Message::parse(marshal(&error, &[Arg::Str("not you")], false).unwrap()).unwrap();
        assert_eq!(message.kind, MessageType::Error);
        let DbusError::Remote { name, message } = message.remote_error() else {
            panic!("not a remote error");
        };
        assert_eq!(name, "org.freedesktop.DBus.Error.AccessDenied");
        assert_eq!(message, "not you");
    }

    #[test]
    fn empty_arrays_and_64_bit_values_keep_their_alignment() {
        let args = [
            Arg::Byte(9),
            Arg::Dict(&[]),
            Arg::I64(-5),
            Arg::StrArray(&[]),
            Arg::ObjectPath("/a/b_c"),
            Arg::Dict(&[("pid", Arg::I64(1234))]),
        ];
        let header = Header {
            path: Some("/"),
            member: Some("M"),
            ..Header::new(MessageType::MethodCall, 1)
        };
        for big_endian in [false, true] {
            let message = Message::parse(marshal(&header, &args, big_endian).unwrap()).unwrap();
            assert_eq!(message.signature, "ya{sv}xasoa{sv}");
            let values: Vec<_> = message.body().map(Result::unwrap).collect();
            assert!(matches!(values[0], Value::Byte(9)));
            assert_eq!(values[1].clone().into_items().unwrap().count(), 0);
            assert!(matches!(values[2], Value::I64(-5)));
            assert_eq!(values[3].clone().into_items().unwrap().count(), 0);
            assert_eq!(values[4].as_str(), Some("/a/b_c"));
            let mut entry = values[5]
                .clone()
                .into_items()
                .unwrap()
                .next()
                .unwrap()
                .unwrap();
            let Value::DictEntry(ref mut fields) = entry else {
                panic!("not a dictionary entry");
            };
            assert_eq!(fields.next_str().unwrap(), "pid");
            assert!(matches!(
                fields.next().unwrap().unwrap().into_inner(),
                Value::I64(1234)
            ));
        }
    }

    #[test]
    fn signatures_are_split_into_complete_types() {
        assert_eq!(first_type("a{sv}i").unwrap(), ("a{sv}", "i"));
        assert_eq!(first_type("(ia(sv))u").unwrap(), ("(ia(sv))", "u"));
        assert_eq!(first_type("aai").unwrap(), ("aai", ""));
        for bad in [
            "a", "(", "()", "{sv}", "a{vs}", "a{s}", "a{svv}", "(i", "z", ")",
        ] {
            assert!(validate_signature(bad).is_err(), "{bad}");
        }
        assert!(validate_signature(&format!("{}i", "a".repeat(33))).is_err());
        assert!(validate_signature(&format!("{}i", "a".repeat(32))).is_ok());
        let deep = format!("{}i{}", "(".repeat(33), ")".repeat(33));
        assert!(validate_signature(&deep).is_err());
    }

    fn valid_call() -> Vec<u8> {
        marshal(&call_header(1), &notify_args(), false).unwrap()
    }

    fn malformed(bytes: Vec<u8>) -> DbusError {
        match Message::parse(bytes) {
            Ok(message) => match message.body().find_map(Result::err) {
                Some(error) => error,
                None => panic!("accepted: {message:?}"),
            },
            Err(error) => error,
        }
    }

    #[test]
    fn truncated_messages_are_errors() {
        let bytes = valid_call();
        for len in [0, 1, 15, 16, 40, bytes.len() - 1] {
            let error = malformed(bytes[..len].to_vec());
            assert!(matches!(error, DbusError::Malformed(_)), "{len}: {error}");
        }
        // Every prefix, and every single corrupted byte: errors or values, never a panic.
        for len in 0..bytes.len() {
            let _ = Message::parse(bytes[..len].to_vec());
        }
        for at in 0..bytes.len() {
            for byte in [0, 1, 0x7f, 0xff] {
                let mut corrupted = bytes.clone();
                corrupted[at] = byte;
                if let Ok(message) = Message::parse(corrupted) {
                    drain(message.body());
                }
            }
        }
    }

    /// Reads every value, nested ones included.
    fn drain(items: Items<'_>) {
        for value in items {
            match value {
                Ok(Value::Array(inner) | Value::Struct(inner) | Value::DictEntry(inner)) => {
                    drain(inner);
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    }

    #[test]
    fn bad_alignment_is_an_error() {
        let mut bytes = valid_call();
        // The header fields array must end on its last field; pretend it
        // is 4 bytes longer so the body starts in the middle of padding.
        let fields_len = u32::from_le_bytes(bytes[12..16].try_into().unwrap());
        bytes[12..16].copy_from_slice(&(fields_len + 4).to_le_bytes());
        assert!(matches!(malformed(bytes), DbusError::Malformed(_)));

        // Non-zero padding between the fields and the body.
        let mut bytes = valid_call();
        let fields_end = 16 + fields_len as usize;
        assert_ne!(fields_end % 8, 0, "the test needs padding after the fields");
        bytes[fields_end] = 1;
        assert!(matches!(malformed(bytes), DbusError::Malformed(_)));

        // A byte then a u32 written without padding: 9, then 7 at offset 1.
        let mut cursor = Cursor::new(&[9, 7, 0, 0, 0, 0, 0, 0], false);
        assert!(matches!(cursor.value("y"), Ok(Value::Byte(9))));
        assert!(matches!(cursor.u32(), Err(DbusError::Malformed(_))));
    }

    #[test]
    fn absurd_lengths_are_errors() {
        // A header announcing more than 128 MiB is refused before reading it.
        let mut start = valid_call()[..16].to_vec();
        start[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            message_length(&start),
            Err(DbusError::TooLarge(_))
        ));
        let mut start = valid_call()[..16].to_vec();
        start[12..16].copy_from_slice(&(129_u32 << 20).to_le_bytes());
        assert!(matches!(
            message_length(&start),
            Err(DbusError::TooLarge(_))
        ));

        // A string claiming 4 GiB inside a small body.
        let mut bytes = valid_call();
        let app_name_len = bytes.windows(6).position(|w| w == b"Slack\0").unwrap() - 4;
        bytes[app_name_len..app_name_len + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(malformed(bytes), DbusError::Malformed(_)));

        // An array over 64 MiB.
        let mut bytes = valid_call();
        let actions_len = bytes.windows(8).position(|w| w == b"default\0").unwrap() - 8;
        bytes[actions_len..actions_len + 4].copy_from_slice(&(65_u32 << 20).to_le_bytes());
        assert!(matches!(malformed(bytes), DbusError::Malformed(_)));
    }

    #[test]
    fn other_malformed_input_is_an_error() {
        let mut wrong_order = valid_call();
        wrong_order[0] = b'x';
        assert!(matches!(malformed(wrong_order), DbusError::Malformed(_)));
        let mut wrong_version = valid_call();
        wrong_version[3] = 2;
        assert!(matches!(malformed(wrong_version), DbusError::Malformed(_)));
        let mut no_serial = valid_call();
        no_serial[8..12].fill(0);
        assert!(matches!(malformed(no_serial), DbusError::Malformed(_)));
        let mut not_utf8 = valid_call();
        let at = not_utf8.windows(5).position(|w| w == b"Slack").unwrap();
        not_utf8[at] = 0xff;
        assert!(matches!(malformed(not_utf8), DbusError::Malformed(_)));

        // A method call without a member.
        let header = Header {
            path: Some("/"),
            ..Header::new(MessageType::MethodCall, 1)
        };
        assert!(matches!(
            malformed(marshal(&header, &[], false).unwrap()),
            DbusError::Malformed(_)
        ));

        // A boolean of 2 and variants nested past the limit.
        let mut cursor = Cursor::new(&[2, 0, 0, 0], false);
        assert!(cursor.value("b").is_err());
        let mut nested = Vec::new();
        for _ in 0..70 {
            nested.extend_from_slice(&[1, b'v', 0]);
        }
        nested.extend_from_slice(&[1, b'y', 0, 7]);
        assert!(Cursor::new(&nested, false).value("v").is_err());
        let mut shallow = Vec::new();
        for _ in 0..3 {
            shallow.extend_from_slice(&[1, b'v', 0]);
        }
        shallow.extend_from_slice(&[1, b'y', 0, 7]);
        let value = Cursor::new(&shallow, false)
            .value("v")
            .unwrap()
            .into_inner();
        assert!(matches!(value, Value::Byte(7)));
    }

    #[test]
    fn strings_with_nul_and_bad_paths_are_not_sent() {
        let header = call_header(1);
        assert!(marshal(&header, &[Arg::Str("a\0b")], false).is_err());
        assert!(marshal(&header, &[Arg::ObjectPath("/a//b")], false).is_err());
        let bad_path = Header {
            path: Some("relative"),
            ..header
        };
        assert!(marshal(&bad_path, &[], false).is_err());
    }

    #[test]
    fn addresses_list_unix_sockets_in_order() {
        let sockets = parse_address(
            "tcp:host=localhost,port=1;unix:path=/run/user/1000/bus,guid=0123;\
             unix:abstract=/tmp/dbus-x%2cy;",
        )
        .unwrap();
        assert_eq!(
            sockets,
            [
                Address::Path("/run/user/1000/bus".into()),
                Address::Abstract(b"/tmp/dbus-x,y".to_vec()),
            ]
        );
        assert!(parse_address("tcp:host=localhost,port=1").is_err());
        assert!(parse_address("unix:path=/a%2").is_err());
        assert!(parse_address("unix:path=/a%zz").is_err());
        assert!(parse_address("nocolon").is_err());
        assert!(parse_address("").is_err());
        let escaped = escape_address_value(b"/tmp/a b,c");
        assert_eq!(escaped, "/tmp/a%20b%2cc");
        assert_eq!(
            parse_address(&format!("unix:path={escaped}")).unwrap(),
            [Address::Path("/tmp/a b,c".into())]
        );
    }

    #[test]
    fn the_uid_is_the_owner_of_proc_self() {
        use std::os::unix::fs::MetadataExt;
        let owner = std::fs::metadata("/proc/self").unwrap().uid();
        assert_eq!(process_uid().unwrap(), owner);
    }

    #[tokio::test]
    async fn a_listener_that_is_not_a_bus_fails_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bus");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut line = [0; 64];
            let _ = stream.read(&mut line).await.unwrap();
            stream
                .write_all(b"REJECTED DBUS_COOKIE_SHA1\r\n")
                .await
                .unwrap();
        });
        let address = format!(
            "unix:path={}",
            escape_address_value(path.to_str().unwrap().as_bytes())
        );
        let error = Connection::connect(&address).await.unwrap_err();
        assert!(matches!(error, DbusError::AuthRejected { .. }), "{error}");
        server.await.unwrap();

        let missing = format!("unix:path={}/none", dir.path().display());
        assert!(matches!(
            Connection::connect(&missing).await.unwrap_err(),
            DbusError::Io(_)
        ));
    }
}
