//! Connection label names: `connlabel.conf`, as `conntrack -l NAME` and
//! `--label-add NAME` read it.

use std::collections::BTreeMap;
use std::path::Path;

use super::flow::Labels;
use crate::error::{Error, Result};

/// Where conntrack-tools (libnetfilter_conntrack) and nftables read label
/// names from.
pub const DEFAULT_CONNLABEL_CONF: &str = "/etc/xtables/connlabel.conf";

/// Label names and their bit numbers, from a `connlabel.conf` file: one
/// `BIT NAME` pair a line (bit 0 to 127), `#` starts a comment.
///
/// ```
/// use netplumb::conntrack::LabelMap;
/// let map = LabelMap::parse("# web tier\n1 web\n2 db\n").unwrap();
/// let l = map.labels(&["web", "db"]).unwrap();
/// assert_eq!(map.format(l), "web,db");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelMap {
    names: BTreeMap<u8, String>,
}

impl LabelMap {
    /// Parse the text of a `connlabel.conf`.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the line that is not `BIT NAME` with a bit
    /// below 128, or a name given twice.
    pub fn parse(text: &str) -> Result<LabelMap> {
        let mut names = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let field = || format!("connlabel.conf line {}", i + 1);
            let mut parts = line.split_whitespace();
            let (Some(bit), Some(name)) = (parts.next(), parts.next()) else {
                return Err(Error::invalid(field(), format!("{line:?} is not `BIT NAME`")));
            };
            let bit: u8 = match bit.parse() {
                Ok(b) if b < 128 => b,
                _ => return Err(Error::invalid(field(), format!("{bit:?} is not a label bit 0..=127"))),
            };
            if names.values().any(|n| n == name) {
                return Err(Error::invalid(field(), format!("label {name:?} is defined twice")));
            }
            // Like libnetfilter_conntrack, the first name of a bit wins.
            names.entry(bit).or_insert_with(|| name.to_string());
        }
        Ok(LabelMap { names })
    }

    /// Read and parse a `connlabel.conf` file.
    ///
    /// # Errors
    /// [`Error::Io`] if it cannot be read; as [`LabelMap::parse`].
    pub fn from_file(path: impl AsRef<Path>) -> Result<LabelMap> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|source| Error::Io { op: format!("reading {}", path.display()), source })?;
        LabelMap::parse(&text)
    }

    /// [`LabelMap::from_file`] on [`DEFAULT_CONNLABEL_CONF`].
    ///
    /// # Errors
    /// As [`LabelMap::from_file`].
    pub fn from_default_file() -> Result<LabelMap> {
        LabelMap::from_file(DEFAULT_CONNLABEL_CONF)
    }

    /// The bit of label `name`.
    pub fn bit(&self, name: &str) -> Option<u8> {
        self.names.iter().find(|(_, n)| *n == name).map(|(b, _)| *b)
    }

    /// The name of label `bit`.
    pub fn name(&self, bit: u8) -> Option<&str> {
        self.names.get(&bit).map(String::as_str)
    }

    /// The label set of `names` (`conntrack --label-add web,db`).
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the first unknown label.
    pub fn labels(&self, names: &[&str]) -> Result<Labels> {
        let mut l = Labels(0);
        for n in names {
            let b = self.bit(n).ok_or_else(|| {
                Error::invalid("labels", format!("unknown label {n:?} (not in connlabel.conf)"))
            })?;
            l = l.with(b);
        }
        Ok(l)
    }

    /// The names of the set bits, comma-separated, as `conntrack -o labels`
    /// prints them after `labels=`; bits without a name are left out, as
    /// conntrack does.
    pub fn format(&self, labels: Labels) -> String {
        labels.iter().filter_map(|b| self.name(b)).collect::<Vec<_>>().join(",")
    }
}
