//! Errors: what went wrong, in the kernel's words where the kernel said it.

use std::fmt;
use std::time::Duration;

use crate::names::{MsgType, Protocol, NFNL_MSG_BATCH_BEGIN};

/// Result type used throughout netplumb.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An errno value (positive), as the kernel returns it.
///
/// Constants for the common values let callers branch without numbers:
/// `if e.errno() == Some(Errno::EEXIST)`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Errno(pub i32);

macro_rules! errnos {
    ($($name:ident),* $(,)?) => {
        impl Errno {
            $(
                #[doc = concat!("`", stringify!($name), "`")]
                pub const $name: Errno = Errno(libc::$name);
            )*

            /// The symbolic name (`"EEXIST"`), if known.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $(libc::$name => Some(stringify!($name)),)*
                    _ => None,
                }
            }
        }
    };
}

errnos!(
    EPERM,
    ENOENT,
    ESRCH,
    EINTR,
    EIO,
    ENXIO,
    E2BIG,
    EBADF,
    EAGAIN,
    ENOMEM,
    EACCES,
    EFAULT,
    EBUSY,
    EEXIST,
    EXDEV,
    ENODEV,
    ENOTDIR,
    EISDIR,
    EINVAL,
    ENFILE,
    EMFILE,
    ENOSPC,
    ERANGE,
    ENAMETOOLONG,
    ENOTEMPTY,
    ELOOP,
    EPROTO,
    EMSGSIZE,
    EPROTONOSUPPORT,
    EOPNOTSUPP,
    EAFNOSUPPORT,
    EADDRINUSE,
    EADDRNOTAVAIL,
    ENETDOWN,
    ENETUNREACH,
    ENOBUFS,
    ETIMEDOUT,
    ECONNREFUSED,
    EHOSTUNREACH,
    EALREADY,
    EINPROGRESS,
    ENOLINK,
    ENODATA,
    ESPIPE,
    EDOM,
    ENOTCONN,
);

impl Errno {
    /// `ENOTSUP` (the same value as `EOPNOTSUPP` on Linux).
    pub const ENOTSUP: Errno = Errno(libc::ENOTSUP);

    /// The system's description (`strerror`).
    pub fn description(self) -> String {
        let s = std::io::Error::from_raw_os_error(self.0).to_string();
        // std appends " (os error N)"; we print the name instead.
        match s.rfind(" (os error") {
            Some(i) => s[..i].to_string(),
            None => s,
        }
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{n}"),
            None => write!(f, "Errno({})", self.0),
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{} ({n})", self.description()),
            None => write!(f, "{} (errno {})", self.description(), self.0),
        }
    }
}

/// Which operation of a batch or transaction the kernel rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    /// Zero-based index in the batch as the user built it.
    pub index: usize,
    /// What the operation does, e.g. `add rule to ip kube-proxy/nat-prerouting`.
    pub description: String,
}

/// An error the kernel returned for a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelError {
    /// The errno.
    pub errno: Errno,
    /// The kernel's extended-ack message, when it gave one.
    pub message: Option<String>,
    /// Byte offset, in the request, of the attribute the kernel rejected.
    pub offset: Option<u32>,
    /// Type of an attribute the kernel says is missing.
    pub missing_attr: Option<u32>,
    /// The request's message type.
    pub request: MsgType,
    /// The request's sequence number.
    pub seq: u32,
    /// In a batch or transaction: which operation failed.
    pub operation: Option<Operation>,
}

impl KernelError {
    /// Whether this is `EEXIST`.
    pub fn is_exists(&self) -> bool {
        self.errno == Errno::EEXIST
    }
    /// Whether this is `ENOENT` (or `ESRCH`, which some subsystems use).
    pub fn is_not_found(&self) -> bool {
        self.errno == Errno::ENOENT || self.errno == Errno::ESRCH
    }
    /// Whether this is `ENODEV`.
    pub fn is_no_device(&self) -> bool {
        self.errno == Errno::ENODEV
    }
    /// Whether this is `EPERM` or `EACCES`.
    pub fn is_permission(&self) -> bool {
        self.errno == Errno::EPERM || self.errno == Errno::EACCES
    }
    /// Whether this is `EBUSY`.
    pub fn is_busy(&self) -> bool {
        self.errno == Errno::EBUSY
    }
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(op) = &self.operation {
            write!(f, "operation {}: {} failed", op.index, op.description)?;
            write!(f, " ({} seq {})", self.request, self.seq)?;
        } else {
            write!(f, "{} (seq {}) failed", self.request, self.seq)?;
        }
        write!(f, ": {}", self.errno)?;
        if let Some(m) = &self.message {
            write!(f, ": kernel says \"{m}\"")?;
        }
        if let Some(o) = self.offset {
            write!(f, " (at byte {o} of the request)")?;
        }
        if let Some(t) = self.missing_attr {
            write!(f, " (missing attribute type {t})")?;
        }
        if self.errno == Errno(libc::ERESTART)
            && self.operation.is_none()
            && self.request == (MsgType { protocol: Protocol::Netfilter, raw: NFNL_MSG_BATCH_BEGIN })
        {
            write!(
                f,
                "; the batch header's generation guard failed: the ruleset changed since that generation"
            )?;
        }
        if self.errno == Errno::EPERM && self.message.is_none() {
            write!(f, "; this needs CAP_NET_ADMIN in the target namespace (run as root)")?;
        }
        Ok(())
    }
}

impl std::error::Error for KernelError {}

/// Bytes that could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// What was being decoded.
    pub what: &'static str,
    /// What was wrong with it.
    pub detail: String,
}

impl DecodeError {
    /// A decode error about `what`.
    pub fn new(what: &'static str, detail: impl Into<String>) -> Self {
        DecodeError { what, detail: detail.into() }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed {}: {}", self.what, self.detail)
    }
}

impl std::error::Error for DecodeError {}

/// Several operations of one bulk request failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchError {
    /// How many operations the batch held.
    pub total: usize,
    /// The operations that failed, each with its index in
    /// [`KernelError::operation`].
    pub failures: Vec<KernelError>,
}

impl fmt::Display for BatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} of {} operations failed", self.failures.len(), self.total)?;
        if let Some(first) = self.failures.first() {
            write!(f, "; first: {first}")?;
        }
        Ok(())
    }
}

impl std::error::Error for BatchError {}

/// Input that netplumb refused before sending anything to the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidInput {
    /// The field, as the API names it (`"name"`, `"peer.name"`, `"mtu"`).
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for InvalidInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {}", self.field, self.reason)
    }
}

impl std::error::Error for InvalidInput {}

/// Everything that can go wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The kernel rejected a request.
    #[error(transparent)]
    Kernel(#[from] KernelError),
    /// Several operations of a bulk request failed.
    #[error(transparent)]
    Batch(#[from] BatchError),
    /// Input refused before anything was sent.
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// The kernel sent bytes netplumb could not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The object asked for does not exist.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for, e.g. `link "eth9"`.
        what: String,
    },
    /// A system call failed.
    #[error("{op}: {source}")]
    Io {
        /// What netplumb was doing.
        op: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// No reply within the configured timeout.
    #[error("{request} (seq {seq}) got no reply within {after:?}")]
    Timeout {
        /// The request's type.
        request: MsgType,
        /// Its sequence number.
        seq: u32,
        /// The timeout.
        after: Duration,
    },
    /// A dump was interrupted by concurrent changes every time it was tried.
    #[error("{request} dump was interrupted by concurrent changes (NLM_F_DUMP_INTR) {attempts} time(s); the result would be inconsistent, list again")]
    DumpInterrupted {
        /// The dump request's type.
        request: MsgType,
        /// How many attempts were made.
        attempts: u32,
    },
    /// A datagram was larger than the receive buffer; it was not parsed.
    #[error("received a {size}-byte datagram into a {buffer}-byte buffer: truncated, discarded")]
    Truncated {
        /// The datagram's real size.
        size: usize,
        /// The buffer's size.
        buffer: usize,
    },
    /// A message from someone other than the kernel, or with a sequence
    /// number that was not expected. Connections no longer return it: such
    /// messages are dropped and counted (`conn::Stats::foreign`).
    #[error("rejected a netlink message from port {port} with seq {seq}: {reason}")]
    Unexpected {
        /// Sender port id (0 is the kernel).
        port: u32,
        /// Sequence number of the message.
        seq: u32,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// The socket's receive buffer overflowed (ENOBUFS) while replies were
    /// pending; they were lost. The requests may have taken effect.
    #[error("the kernel's reply to {request} (seq {seq}) was lost: socket receive buffer overflow (ENOBUFS); the request may have taken effect")]
    ReplyLost {
        /// The request's type.
        request: MsgType,
        /// Its sequence number.
        seq: u32,
    },
    /// The connection is closed (its background task ended).
    #[error("netlink connection closed")]
    Closed,
    /// An async constructor was called outside a tokio runtime.
    #[error("netplumb needs a tokio runtime: call this from within one")]
    NoRuntime,
}

impl Error {
    /// Place an input error in a bulk call: its field becomes
    /// `{list}[{i}].{field}` (`[3].name`, `flows[3].timeout`). Other
    /// errors pass unchanged.
    pub(crate) fn at_index(self, list: &str, i: usize) -> Error {
        match self {
            Error::Invalid(mut v) => {
                v.field = format!("{list}[{i}].{}", v.field);
                Error::Invalid(v)
            }
            e => e,
        }
    }

    /// The kernel error, if this is one (or a batch whose first failure is).
    pub fn kernel(&self) -> Option<&KernelError> {
        match self {
            Error::Kernel(k) => Some(k),
            Error::Batch(b) => b.failures.first(),
            _ => None,
        }
    }

    /// The errno, if the kernel or a system call returned one.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Error::Io { source, .. } => source.raw_os_error().map(Errno),
            _ => self.kernel().map(|k| k.errno),
        }
    }

    /// `EEXIST`: the object already exists.
    pub fn is_exists(&self) -> bool {
        self.errno() == Some(Errno::EEXIST)
    }

    /// The object does not exist: a typed not-found, `ENOENT`, `ESRCH` or
    /// `ENODEV`.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
            || matches!(self.errno(), Some(Errno::ENOENT | Errno::ESRCH | Errno::ENODEV))
    }

    /// `ENODEV`: no such device.
    pub fn is_no_device(&self) -> bool {
        self.errno() == Some(Errno::ENODEV)
    }

    /// `EPERM`/`EACCES`: not permitted (run as root / with CAP_NET_ADMIN).
    pub fn is_permission(&self) -> bool {
        matches!(self.errno(), Some(Errno::EPERM | Errno::EACCES))
    }

    /// `EBUSY`.
    pub fn is_busy(&self) -> bool {
        self.errno() == Some(Errno::EBUSY)
    }

    /// Build an [`Error::Invalid`] for `field`.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::Invalid(InvalidInput { field: field.into(), reason: reason.into() })
    }

    /// Build an [`Error::Io`].
    pub fn io(op: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io { op: op.into(), source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::Protocol;

    #[test]
    fn kernel_error_reads_like_a_sentence() {
        let e = KernelError {
            errno: Errno::EINVAL,
            message: Some("Attribute failed policy validation".into()),
            offset: Some(36),
            missing_attr: None,
            request: MsgType { protocol: Protocol::Route, raw: 16 },
            seq: 7,
            operation: None,
        };
        let s = Error::from(e.clone()).to_string();
        assert_eq!(
            s,
            "RTM_NEWLINK (seq 7) failed: Invalid argument (EINVAL): kernel says \"Attribute failed policy validation\" (at byte 36 of the request)"
        );
        let mut e2 = e;
        e2.operation = Some(Operation { index: 3, description: "add rule to ip kp/nat".into() });
        e2.errno = Errno::ENOENT;
        e2.message = None;
        e2.offset = None;
        let err = Error::from(e2);
        assert!(err.is_not_found());
        assert!(err.to_string().starts_with("operation 3: add rule to ip kp/nat failed"));
    }

    #[test]
    fn predicates() {
        let io = Error::io("open", std::io::Error::from_raw_os_error(libc::EEXIST));
        assert!(io.is_exists());
        assert!(Error::NotFound { what: "link x".into() }.is_not_found());
        assert_eq!(format!("{:?}", Errno::EBUSY), "EBUSY");
        assert_eq!(Errno(9999).name(), None);
    }
}
